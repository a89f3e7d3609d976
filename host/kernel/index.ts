/** The kernel layer: programs, processes, images. */
export { loadProgram, programHash, ProgramError, type Program } from "./program.js";
export { Process, ProcessError, type CaptureReason, type KernelInfo, type ProcessOptions } from "./process.js";
export { decodeImage, encodeImage, ImageError, IMAGE_VERSION, type ProcessImage, type Frame, type Value } from "./image.js";
export { runProgram, type RunOptions, type RunResult } from "./run.js";
