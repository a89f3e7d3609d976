/** The kernel layer: programs, processes, images. */
export { loadProgram, programHash, ProgramError, type Program } from "./program.js";
export { Process, ProcessError, type CaptureReason, type KernelInfo, type ProcessOptions, type ThreadState } from "./process.js";
export { decodeImage, encodeImage, ImageError, IMAGE_VERSION, type ProcessImage, type Frame, type Value } from "./image.js";
export { RunFailed, runProgram, type RunOptions, type RunResult } from "./run.js";
export { startKernelDaemon, type DaemonOptions, type KernelDaemon } from "./daemon.js";
export { KERNEL_SILENCE_MS, MAX_PING_BYTES, MAX_PING_COUNT, RemoteKernel, type RemoteKernelOptions, RemoteError, type ClusterInfo } from "./remote.js";
export { EmbeddedKernels, KernelError, workerFile, mergePs, SCHEDULERS, type Scheduler, type ProcessInfo, type ExitInfo, type MigrationRecord, type EmbeddedOptions, type PingResult } from "./client.js";
export { ControlWord, now } from "./control-word.js";
export { SIGMIGRATE, SIGNALS } from "./core.js";
export { MIGRATION_TRACE_VERSION, dumpImage, traceFrames } from "./trace.js";
export type { MigrationTraceFile, MigrationTrace, ImageDump, TracedFrame } from "./trace.js";
export { GUEST_STACK_MB, PID_SPAN } from "./kernel.js";
