/**
 * A real aarch64 kernel: Debian's arm64 Node.js under QEMU user-mode
 * emulation. V8 in that Node compiles the guest's Wasm to real aarch64
 * machine code; qemu-aarch64-static runs it on this x86-64 machine.
 *
 *   popcorn setup arm64     installs qemu-user-static (apt) if missing, and
 *                           unpacks Debian bookworm's nodejs:arm64 and the
 *                           arm64 libraries it needs into a private folder,
 *                           <cache>/arm64/root (never over the machine's own
 *                           Node): apt with its own state and cache folders
 *                           (Dir::State, Dir::Cache, APT::Architecture=arm64)
 *                           downloads the packages, dpkg -x unpacks them.
 *   popcorn kernel --qemu   runs the kernel daemon in that Node:
 *                           qemu-aarch64-static -L <root> <root>/usr/bin/node bin/popcorn.js kernel …
 *
 * <cache> is $POPCORN_CACHE, else $XDG_CACHE_HOME/popcorn, else ~/.cache/popcorn.
 * binfmt_misc need not be mounted: every launch names qemu explicitly.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CompileError, packageRoot } from "../toolchain/index.js";
import { spawnLeashed } from "./leash.js";

/** The arm64 packages: nodejs and, from `apt-cache depends --recurse`, what it needs (bookworm). */
const PACKAGES = [
  "nodejs", "libnode108", "libc6", "libgcc-s1", "gcc-12-base", "libstdc++6", "libssl3", "zlib1g", "libuv1",
  "libbrotli1", "libc-ares2", "libicu72", "libnghttp2-14", "node-acorn", "node-cjs-module-lexer", "node-undici",
  "node-busboy", "node-xtend",
];

export function cacheDir(): string {
  if (process.env.POPCORN_CACHE) return process.env.POPCORN_CACHE;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "popcorn");
}

export function arm64Root(): string {
  return join(cacheDir(), "arm64", "root");
}

function qemuBinary(): string | undefined {
  const r = spawnSync("sh", ["-c", "command -v qemu-aarch64-static"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** The command that runs arm64 Node, or undefined (with the reason) if this machine is not set up. */
export function arm64Node(): { qemu: string; root: string; node: string } | { missing: string } {
  const qemu = qemuBinary();
  if (!qemu) return { missing: "qemu-aarch64-static is not installed" };
  const root = arm64Root();
  const node = join(root, "usr/bin/node");
  if (!existsSync(node)) return { missing: `no arm64 Node.js in ${root}` };
  return { qemu, root, node };
}

function run(cmd: string, args: string[], say: (l: string) => void): void {
  say(`  $ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new CompileError(`${cmd} failed (exit ${r.status}) — see its output above`);
}

function du(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += du(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

/** `popcorn setup arm64`: idempotent; says what it does and how big it is. */
export async function setupArm64(): Promise<number> {
  const say = (l: string) => process.stderr.write(l + "\n");
  const root = process.getuid?.() === 0;
  const apt = spawnSync("sh", ["-c", "command -v apt-get"], { encoding: "utf8" }).status === 0;
  if (!qemuBinary()) {
    if (!apt) throw new CompileError("qemu-aarch64-static is missing and there is no apt-get here — install qemu-user-static by hand");
    if (!root) throw new CompileError("qemu-aarch64-static is missing — install it as root: apt-get install -y qemu-user-static");
    say("installing qemu-user-static (apt)");
    run("apt-get", ["install", "-y", "-q", "qemu-user-static"], say);
  } else say(`qemu: ${qemuBinary()}`);
  const have = arm64Node();
  if ("node" in have && spawnSync(have.qemu, ["-L", have.root, have.node, "--version"], { encoding: "utf8" }).status === 0) {
    say(`arm64 Node.js already in ${have.root} (${(du(have.root) / 1e6).toFixed(0)} MB) — nothing to do`);
    return 0;
  }
  if (!apt) throw new CompileError("no apt-get on this machine: popcorn setup arm64 downloads Debian's arm64 packages with it");
  const base = join(cacheDir(), "arm64");
  const state = join(base, "apt-state");
  const cache = join(base, "apt-cache");
  const debs = join(base, "debs");
  rmSync(arm64Root(), { recursive: true, force: true });
  for (const d of [join(state, "lists/partial"), join(cache, "archives/partial"), debs, arm64Root()]) mkdirSync(d, { recursive: true });
  writeFileSync(join(state, "status"), "");
  const opts = [
    "-o", `Dir::State=${state}`, "-o", `Dir::State::status=${join(state, "status")}`, "-o", `Dir::Cache=${cache}`,
    "-o", "APT::Architecture=arm64", "-o", "APT::Architectures::=arm64", "-o", "Debug::NoLocking=1",
  ];
  say(`downloading Debian's arm64 package lists into ${state} (the machine's own apt state is not touched)`);
  run("apt-get", [...opts, "-q", "update"], say);
  say(`downloading ${PACKAGES.length} arm64 packages (nodejs 18 and its libraries, about 25 MB) into ${debs}`);
  const dl = spawnSync("apt-get", [...opts, "-q", "download", ...PACKAGES], { cwd: debs, stdio: ["ignore", "inherit", "inherit"] });
  if (dl.status !== 0) throw new CompileError(`apt-get download failed (exit ${dl.status}) — see its output above`);
  const files = readdirSync(debs).filter((f) => f.endsWith(".deb"));
  say(`unpacking ${files.length} packages into ${arm64Root()}`);
  for (const f of files) run("dpkg", ["-x", join(debs, f), arm64Root()], () => {});
  const check = arm64Node();
  if (!("node" in check)) throw new CompileError(`setup did not produce an arm64 Node.js: ${check.missing}`);
  const v = spawnSync(check.qemu, ["-L", check.root, check.node, "-p", "process.version + ' ' + process.arch"], { encoding: "utf8" });
  if (v.status !== 0) throw new CompileError(`the arm64 Node.js does not start under qemu: ${v.stderr.trim()}`);
  say(`ready: Node.js ${v.stdout.trim()} under qemu, ${(du(check.root) / 1e6).toFixed(0)} MB in ${check.root}`);
  return 0;
}

/** Runs `popcorn <args>` in the arm64 Node under qemu, in the foreground, and returns its exit status. */
export function runUnderQemu(args: string[]): Promise<number> {
  const a = arm64Node();
  if (!("node" in a)) throw new CompileError(`--qemu: ${a.missing} — run \`popcorn setup arm64\` first`);
  // on a leash: the arm64 kernel stops with this process, however it ends (killed with -9, it ran on, orphaned)
  const child = spawnLeashed(a.qemu, ["-L", a.root, a.node, join(packageRoot(), "bin/popcorn.js"), ...args], "inherit");
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
}

/**
 * QEMU here runs Debian's arm64 Node: a kernel in it is an aarch64 kernel.
 * Any other profile there would simulate one ISA on the other real one —
 * refused, naming `what` the user wrote and `fix`.
 */
export function qemuIsa(isa: string, what: string, fix: string): void {
  if (isa !== "aarch64") throw new CompileError(`${what}: QEMU runs an arm64 Node.js, so only aarch64 kernels run under it — ${fix}`);
}

/** The argv of a kernel daemon under qemu (for launchers that manage the process themselves). */
export function qemuKernelCommand(args: string[]): { command: string; args: string[] } {
  const a = arm64Node();
  if (!("node" in a)) throw new CompileError(`aarch64@qemu: ${a.missing} — run \`popcorn setup arm64\` first`);
  return { command: a.qemu, args: ["-L", a.root, a.node, join(packageRoot(), "bin/popcorn.js"), "kernel", ...args] };
}
