/**
 * The `popcorn` command.
 *
 *   popcorn compile <file.ts|file.wasm> [-o out.wasm] [--points entry,loops,explicit] [-O0..3] [--runtime r] [--json]
 *   popcorn run <prog.wasm|prog.ts> [--checkpoint-every N] [--dmesg] [--json] [-- args...]
 *   popcorn run <prog> --kernels x86-64,aarch64 [--migrate-every 5ms] [--migrate-at N] [-- args...]
 *   popcorn ps | kill -35 <pid> | migrate <pid> --to <k> | dmesg      (talk to a running --kernels run)
 *   popcorn stackmap <prog.wasm> [--isa x86-64|aarch64|all] [--function f] [--site n] [--json]
 *   popcorn check <prog.wasm> [--json]
 *   popcorn viz <trace.json> [-o page.html]
 *   popcorn ping [--transport local|tcp] [--size b] [--count n] [--json] | ping --cluster <addr> --key-file f
 *   popcorn keygen | kernel --isa i --listen a --peers a,b --key-file f [--qemu]   (cluster mode)
 *   popcorn setup arm64                                 (qemu + arm64 Node for aarch64@qemu kernels)
 *   popcorn run|ps|kill|migrate|dmesg … --cluster <addr> --key-file f
 *   popcorn bench overhead|capture|migrate|count [--json] [--quick]   (overhead: [--reps n] [--warmup n])
 *   popcorn demo
 *   popcorn --version | -V
 *
 * Exit status: a program's own status for `run`; 1 when the program traps or
 * aborts; 2 for popcorn's own errors (bad arguments, unreadable or invalid
 * input, a refused image), with a one-line message that names the thing.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { compileCommand } from "./compile.js";
import { resumeCommand, runCommand } from "./run.js";
import { demoCommand } from "./demo.js";
import { benchCommand, benchCountCommand } from "./bench.js";
import { fail } from "./fail.js";
import { checkCommand, stackmapCommand } from "./stackmap.js";
import { clusterKey, dmesgOnCluster, kernelCommand, keygenCommand, psOnCluster, signalOnCluster } from "./cluster.js";
import { setupArm64 } from "./qemu.js";
import { CompileError, packageRoot } from "../toolchain/index.js";
import { MAX_PING_BYTES, MAX_PING_COUNT, SCHEDULERS, SIGMIGRATE, SIGNALS } from "../kernel/index.js";
import { dmesgCommand, migrateCommand, psCommand, runOnKernels, signalCommand, type ThreadTarget } from "./kernels.js";
import { vizCommand } from "./viz.js";
import { MIN_KEY_BYTES } from "../msg/index.js";
import { SIGPIPE } from "./output.js";

/**
 * The largest count a flag takes: points, checkpoints, milliseconds — what
 * a migration point's countdown and a timer hold (a signed 32-bit word).
 */
const MAX_COUNT = 2 ** 31 - 1;
/** cores a kernel may have: far more than any machine here, far fewer than would exhaust memory */
const MAX_CORES = 64;

const intArg = (name: string, min: number, max = MAX_COUNT) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}`);
  if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max}`);
  return n;
};

const signalArg = (v: string) => {
  const n = Number(v);
  if (!SIGNALS.includes(n)) throw new InvalidArgumentError(`signal ${v} is not one popcorn delivers: ${SIGNALS.join(", ")} (35 migrates, the others stop the process)`);
  return n;
};

/** "<pid>" or "<pid>.<tid>" (a thread, as `popcorn ps` shows it) → the pid and the thread (0: main) */
const threadArg = (v: string): ThreadTarget => {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m || Number(m[1]) < 1) throw new InvalidArgumentError(`"${v}" is not a pid or a pid.tid, e.g. 4242 or 4242.3 (see \`popcorn ps\`)`);
  return { pid: Number(m[1]), tid: m[2] === undefined ? 0 : Number(m[2]) };
};

/** "3" or "3,10,10" → [3, 10, 10], each ≥ 1 */
const listArg = (name: string) => (v: string) => v.split(",").map((x) => intArg(name, 1)(x.trim()));

/** "5ms", "5", "0.5s" → milliseconds */
const msArg = (name: string) => (v: string) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(v.trim());
  const n = m ? Number(m[1]) * (m[2] === "s" ? 1000 : 1) : NaN;
  if (!(n > 0)) throw new InvalidArgumentError(`${name} takes a duration such as 5ms or 0.5s`);
  if (n > MAX_COUNT) throw new InvalidArgumentError(`${name} must be at most ${MAX_COUNT} ms (24.8 days)`);
  return n;
};

/**
 * popcorn's version, from its package.json: read where the package is at run
 * time (packageRoot walks up from this file, which is dist/cli.js in the
 * bundle and host/cli/main.ts under the tests), so it is never out of date.
 */
function popcornVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}

/** What --key-file takes: a key is the file's bytes, surrounding whitespace trimmed, used as is (msg/address.ts readKeyFile). */
const KEY_FILE_TEXT = `any key of at least ${MIN_KEY_BYTES} bytes, used as is (not hex-decoded; surrounding whitespace ignored)`;

/** `kill -35 <pid>` as the shell writes it: "-35" is the signal, not an option. */
function signalShorthand(argv: string[]): string[] {
  if (argv[0] !== "kill") return argv;
  return argv.map((a, i) => (i > 0 && /^-\d+$/.test(a) ? `--signal=${a.slice(1)}` : a));
}

/**
 * A reader of popcorn's own output that went away (`popcorn dmesg | head -1`,
 * `popcorn keygen | true`, `popcorn run … --json | head -c 10`) ends popcorn as
 * SIGPIPE ends a Unix program: quietly, with status 128 + 13. Node reports the
 * broken pipe as an 'error' event on the stream after the write, which without
 * a listener is an uncaught exception and a Node stack. Commands that handle it
 * themselves listen on the stream too and are left to it: `run` (output.ts:
 * the process gets signal 13 first) and `kernel` (cluster.ts: it runs on
 * without printing its log).
 */
function quietOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listeners("error").includes(brokenPipe)) continue; // main() again, in one process (tests)
    stream.on("error", brokenPipe);
  }
}

function brokenPipe(this: NodeJS.WriteStream, e: NodeJS.ErrnoException): void {
  if (e.code !== "EPIPE") throw e;
  if (this.listenerCount("error") > 1) return; // the command handles it (above)
  process.exit(128 + SIGPIPE);
}

export async function main(argv: string[]): Promise<number> {
  argv = signalShorthand(argv);
  quietOnBrokenPipe();
  const program = new Command("popcorn")
    .description("Popcorn Linux on WebAssembly: compile programs with migration points and per-ISA stackmaps, run them on x86-64 and aarch64 kernels that share nothing but messages, migrate them mid-execution, and study the stack transformation.")
    .version(popcornVersion(), "-V, --version", "print popcorn's version")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .hook("preAction", (_, command) => {
      // a key without a cluster to use it on: the user meant --cluster (or named the wrong command)
      const o = command.opts();
      if (o.keyFile !== undefined && o.cluster === undefined && command.name() !== "kernel") {
        throw new CompileError(`--key-file goes with --cluster <addr> (the kernel daemon to talk to): add --cluster, or leave out --key-file`);
      }
    });

  program
    .command("compile")
    .description("compile an AssemblyScript program (or instrument an asc-built .wasm) into a popcorn program")
    .argument("<file>", "program.ts or program.wasm")
    .argument("[asc...]", "after --: more asc options for a .ts, e.g. -- --stackSize 131072 --enable simd")
    .option("-o, --out <file>", "output file (default: build/<name>.wasm)")
    .option("--points <kinds>", "migration points: any of entry,loops,explicit", "entry,loops,explicit")
    .addOption(new Option("-O, --optimize <level>", "optimization level 0..3").default(3).argParser(intArg("-O", 0, 3)))
    .addOption(new Option("--runtime <name>", "AssemblyScript runtime").choices(["stub", "minimal", "incremental"]).default("incremental"))
    .option("--plain <file>", "also write the uninstrumented asc output here")
    .option("--json", "print the summary as JSON")
    .action(async (file, asc, o) => {
      process.exitCode = await compileCommand(file, o, asc);
    });

  program
    .command("run")
    .description("run a program's main() and exit with its status: on one kernel (a thread of this process), on kernels of several ISAs (--kernels), or on a cluster (--cluster)")
    .argument("<program>", "program.wasm (from popcorn compile) or program.ts (compiled first)")
    .argument("[args...]", "arguments for the program, after --")
    .addOption(new Option("--checkpoint-every <n>", "capture + restore into a fresh instance at every n-th migration point").argParser(intArg("--checkpoint-every", 1)))
    .addOption(new Option("--stop-at <n>", "stop at the n-th migration point and save the process image (with --save)").argParser(intArg("--stop-at", 1)))
    .option("--save <file>", "where --stop-at writes the image")
    .option("--dmesg", "print the kernel log (captures, restores, timings) on stderr at exit")
    .option("--json", "print one JSON object instead of the program's output, the same core in every mode: {status, error (when it failed), output: [{stream, line}], ms, dmesg} and what the mode adds (pid; captures, imageBytes; stoppedAt, image)")
    .option("--kernels <isas>", "run on kernels of these ISA profiles, e.g. x86-64,aarch64 (worker threads, local transport, a control socket for ps/kill/migrate/dmesg); aarch64@qemu: a real arm64 Node under QEMU")
    .addOption(new Option("--cores <n>", "cores per kernel (with --kernels)").argParser(intArg("--cores", 1, MAX_CORES)))
    .addOption(new Option("--migrate-every <time>", "with --kernels: migrate the process to the next kernel this often, e.g. 5ms").argParser(msArg("--migrate-every")))
    .option("--cluster <addr>", "run on the cluster of the kernel daemon at this address (popcorn kernel), with --key-file")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .option("--trace <file>", "with --kernels: write every migration's stacks, values moved and phase timings as JSON (see `popcorn viz`)")
    .addOption(new Option("--scheduler <policy>", "place the program's threads over the kernels as they run: balance (a fair share of runnable threads per core) or hetero (weighted by each ISA profile's speed)").choices(SCHEDULERS))
    .addOption(new Option("--migrate-at <n,...>", "with --kernels: migrate to the next kernel at the n-th migration point, then once more after each further count of points since arriving (3,10,10: three migrations)").argParser(listArg("--migrate-at")))
    .action(async (prog, args, o) => {
      process.exitCode = await runCommand(prog, args, o);
    });

  program
    .command("stackmap")
    .description("where each live value of each site lives on each ISA: registers, frame offsets, frame sizes, saved registers, return addresses")
    .argument("<program>", "program.wasm from popcorn compile")
    .option("--isa <name>", "x86-64, aarch64 or all", "all")
    .option("--function <name>", "only this function (its full name or the part after the last /)")
    .addOption(new Option("--site <id>", "only this site").argParser(intArg("--site", 0)))
    .option("--json", "print JSON")
    .action(async (prog, o) => {
      process.exitCode = await stackmapCommand(prog, o);
    });

  program
    .command("check")
    .description("check that a program's stackmaps agree across ISAs and with its sites (exit 1 naming each inconsistency)")
    .argument("<program>", "program.wasm from popcorn compile")
    .option("--json", "print JSON")
    .action(async (prog, o) => {
      process.exitCode = await checkCommand(prog, o);
    });

  program
    .command("ps")
    .description("processes of the running `popcorn run --kernels` (or of a cluster): the kernel and ISA each is on, migrations, bytes moved")
    .option("--json", "print JSON")
    .option("--cluster <addr>", "talk to the cluster of the kernel daemon at this address (popcorn kernel) instead of local runs")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .action(async (o) => {
      process.exitCode = o.cluster ? await psOnCluster(o) : await psCommand(o);
    });

  program
    .command("kill")
    .description("send a signal to a process or one of its threads: 35 migrates it to the next kernel at its next migration point (pid: the main thread; pid.tid: that thread, its siblings keep running); 2, 9, 13, 15 stop the whole process")
    .argument("<pid>", "the process or thread, as `popcorn ps` shows it: pid or pid.tid", threadArg)
    .addOption(new Option("-s, --signal <n>", "signal number (also written -35)").default(15).argParser(signalArg))
    .option("--cluster <addr>", "talk to the cluster of the kernel daemon at this address (popcorn kernel) instead of local runs")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .action(async (pid, o) => {
      process.exitCode = o.cluster ? await signalOnCluster(pid, o.signal, undefined, o) : await signalCommand(pid, o.signal);
    });

  program
    .command("migrate")
    .description("migrate a process (its main thread) or one thread (pid.tid) to kernel k at its next migration point")
    .argument("<pid>", "the process or thread, as `popcorn ps` shows it: pid or pid.tid", threadArg)
    .requiredOption("--to <k>", "destination kernel id", intArg("--to", 0))
    .option("--cluster <addr>", "talk to the cluster of the kernel daemon at this address (popcorn kernel) instead of local runs")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .action(async (pid, o) => {
      process.exitCode = o.cluster ? await signalOnCluster(pid, SIGMIGRATE, o.to, o) : await migrateCommand(pid, o.to);
    });

  program
    .command("dmesg")
    .description("the kernel log of every running `popcorn run --kernels` (or of a cluster): migrations, bytes moved, timings")
    .option("--json", "print JSON")
    .option("--cluster <addr>", "talk to the cluster of the kernel daemon at this address (popcorn kernel) instead of local runs")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .action(async (o) => {
      process.exitCode = o.cluster ? await dmesgOnCluster(o) : await dmesgCommand(o);
    });

  program
    .command("kernel")
    .description("run one kernel as a daemon (cluster mode): kernel ids follow the order of --peers; prints its log")
    .requiredOption("--isa <name>", "this kernel's ISA profile: x86-64 or aarch64")
    .requiredOption("--listen <addr>", "this kernel's address, one of --peers (e.g. 127.0.0.1:7100)")
    .requiredOption("--peers <list>", "every kernel's address, comma-separated, in kernel-id order")
    .requiredOption("--key-file <file>", `the cluster's shared key, the same file on every kernel and client (popcorn keygen > cluster.key; ${KEY_FILE_TEXT})`)
    .addOption(new Option("--cores <n>", "cores of this kernel").argParser(intArg("--cores", 1, MAX_CORES)))
    .option("--quiet", "do not print the log")
    .option("--qemu", "run this kernel in Debian's arm64 Node.js under QEMU (see popcorn setup arm64)")
    .action(async (o) => {
      process.exitCode = await kernelCommand(o);
    });

  program
    .command("setup")
    .description("install what a feature needs: arm64 — qemu-user-static and Debian's arm64 Node.js, for aarch64@qemu kernels")
    .argument("<what>", "arm64")
    .action(async (what) => {
      if (what !== "arm64") throw new CompileError(`setup ${what}: popcorn can set up arm64 (a real aarch64 kernel under QEMU)`);
      process.exitCode = await setupArm64();
    });

  program
    .command("ping")
    .description("round-trip latency and bandwidth between two kernels, against the floor of the same medium measured in the same run")
    .addOption(new Option("--transport <kind>", "local (worker threads) or tcp (two kernel daemons on loopback)").choices(["local", "tcp"]).default("local"))
    .addOption(new Option("--size <bytes>", "payload bytes per message (at most 64 MiB)").default(64).argParser(intArg("--size", 0, MAX_PING_BYTES)))
    .addOption(new Option("--count <n>", "round trips (at most 10,000,000)").default(2000).argParser(intArg("--count", 10, MAX_PING_COUNT)))
    .option("--json", "print one JSON object")
    .option("--cluster <addr>", "instead: between the kernel daemon at this address and the next kernel of its cluster (no floor; --transport does not apply)")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .action(async (o) => {
      const cluster = o.cluster ? { address: o.cluster as string, key: clusterKey(o) } : undefined;
      await (await import("../../bench/ping.js")).benchPing({ ...o, cluster, log: (l: string) => process.stderr.write(l + "\n") });
      process.exitCode = 0;
    });

  program
    .command("keygen")
    .description(`print a new cluster key for --key-file: 32 random bytes as 64 hex digits (popcorn keygen > cluster.key); --key-file takes ${KEY_FILE_TEXT}`)
    .action(async () => {
      process.exitCode = await keygenCommand();
    });

  program
    .command("resume")
    .description("resume a process image saved by `run --stop-at` and run it to the end")
    .argument("<program>", "the program.wasm the image was taken from")
    .argument("<image>", "the image file")
    .addOption(new Option("--checkpoint-every <n>", "as for run").argParser(intArg("--checkpoint-every", 1)))
    .option("--dmesg", "print the kernel log on stderr at exit")
    .option("--json", "print one JSON object, as for run: {status, error (when it failed), output, ms, dmesg, captures, imageBytes}")
    .action(async (prog, image, o) => {
      process.exitCode = await resumeCommand(prog, image, o);
    });

  const bench = program.command("bench").description("benchmarks");
  bench
    .command("overhead")
    .description("instrumented vs plain vs binaryen Asyncify, per example program")
    .option("--json", "print one JSON object")
    .option("--quick", "small sizes, few repetitions (a smoke test)")
    .addOption(new Option("--reps <n>", "timed runs of each build, interleaved (default 21): more for a tighter median on a noisy machine").argParser(intArg("--reps", 1)))
    .addOption(new Option("--warmup <n>", "untimed runs of each build first (default 6)").argParser(intArg("--warmup", 0)))
    .action(async (o) => {
      process.exitCode = await benchCommand("overhead", o);
    });

  bench
    .command("capture")
    .description("capture + restore of a deep stack (1,000 and 5,000 frames of fib's deep recursion) into a fresh instance, one kernel")
    .option("--json", "print one JSON object")
    .option("--quick", "one small depth, few rounds (a smoke test)")
    .action(async (o) => {
      process.exitCode = await benchCommand("capture", o);
    });

  bench
    .command("migrate")
    .description("migration latency x86-64 ⇄ aarch64 by stack depth and dirty memory, transformation cost per frame, bytes of a repeat migration")
    .option("--json", "print one JSON object")
    .option("--quick", "fewer configurations and hops (a smoke test)")
    .addOption(new Option("--transport <kind>", "local (worker threads of this process) or tcp (two kernel daemons on loopback)").choices(["local", "tcp"]).default("local"))
    .action(async (o) => {
      process.exitCode = await benchCommand("migrate", o);
    });

  bench
    .command("count")
    .description("the counting benchmark: N threads × a load each on (a) one kernel, (b) two kernels balanced by the scheduler, (c) two kernels with half the threads moved by signal 35, (d) one kernel with two cores — table, JSON and an SVG plot")
    .addOption(new Option("--threads <n,...>", "thread counts (default 1,2,4,8)").argParser(listArg("--threads")))
    .addOption(new Option("--load <n,...>", "counting iterations per thread (default 100000,1000000,10000000,100000000)").argParser(listArg("--load")))
    .addOption(new Option("--reps <n>", "runs per configuration and size (default 3; the median counts)").argParser(intArg("--reps", 1)))
    .option("--kernels <a,b>", "the two kernels of (b) and (c) (default x86-64,aarch64; aarch64@qemu: a real arm64 Node under QEMU)")
    .addOption(new Option("--scheduler <policy>", "the policy of (b) (default balance; hetero when a kernel runs under QEMU)").choices(SCHEDULERS))
    .option("--out <dir>", "where count.json and count.svg go (default build/bench)")
    .option("--cluster <addr>", "run (b) and (c) on the running cluster of the kernel daemon at this address (a cluster of two kernels), with --key-file")
    .option("--key-file <file>", "the cluster's shared key (with --cluster)")
    .option("--json", "print one JSON object")
    .option("--quick", "two thread counts, two loads, one run each (a smoke test)")
    .action(async (o) => {
      process.exitCode = await benchCountCommand(o);
    });

  program
    .command("viz")
    .description("write a self-contained HTML page of a migration trace: both stacks side by side, frame by frame, a line per value moved")
    .argument("<trace>", "trace.json, from popcorn run --kernels … --trace <file>")
    .option("-o, --out <file>", "the page (default: the trace's name with .html)")
    .action(async (file, o) => {
      process.exitCode = await vizCommand(file, o);
    });

  program
    .command("demo")
    .description("the main demo (npm start): compile hello, run it on an x86-64 and an aarch64 kernel where it migrates back and forth, show the kernel log and what the first migration did to the stack")
    .action(async () => {
      process.exitCode = await demoCommand();
    });

  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version") return 0;
    // help shown for a missing command (`popcorn`, `popcorn bench`) is an error, exit 1 as git's; asked for (`popcorn help`), 0
    if (code === "commander.help") return (e as { exitCode: number }).exitCode;
    if (code?.startsWith("commander.")) return 2;
    return fail(e);
  }
}
