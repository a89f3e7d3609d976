// `popcorn run --kernels` and the commands that reach it through its control
// socket (ps, kill, migrate, dmesg), as a user runs them from another
// terminal: every command is the real CLI in a child process, every child
// has its own POPCORN_RUN_DIR, and every wait is bounded.
import { spawn, type ChildProcess } from "node:child_process";
import { createConnection } from "node:net";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packageRoot } from "../../host/toolchain/index.js";

const ROOT = packageRoot();
const BIN = join(ROOT, "bin/popcorn.js");
const tmp = mkdtempSync(join(tmpdir(), "popcorn-kernels-"));
const RUN_DIR = join(tmp, "run");
const SPIN = join(tmp, "spin.wasm");

/**
 * The program the run executes: count.ts's loop without an end, so that it
 * outlives the commands below however slow the machine is. count.ts itself
 * ends too soon: `count 2000000000` (its i32 argument is near its maximum)
 * takes ~4 s at -O3 and ~6 s at -O0, and each popcorn command takes
 * 0.5–0.9 s while a run computes (bin/popcorn.js loads binaryen at startup).
 * `kill -9` is what ends it.
 */
const SPIN_SOURCE = `import { print } from "popcorn";

export function main(): i32 {
  let acc: i64 = 0;
  for (let i: i64 = 0; i >= 0; i++) {
    acc = (acc ^ (acc >>> 13)) + i;
  }
  print("spin = " + acc.toString());
  return 0;
}
`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** One popcorn command to the end (at most `ms`), with its own run directory. */
function popcorn(args: string[], o: { runDir?: string; ms?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: tmp, env: { ...process.env, POPCORN_RUN_DIR: o.runDir ?? RUN_DIR } });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const ms = o.ms ?? 15_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`popcorn ${args.join(" ")}: no exit within ${ms} ms\n${stderr}`));
    }, ms);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asks `probe` again until it gives a value, for at most `ms`. */
async function until<T>(what: () => string, probe: () => Promise<T | undefined>, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what()}: not within ${ms} ms`);
    await sleep(50);
  }
}

interface PsJson {
  runs: { pid: number; program: string; socket: string; kernels: { id: number; isa: string }[] }[];
  processes: { pid: number; name: string; kernel: number; isa: string; state: string; migrations: number; run: number }[];
}

async function psJson(runDir = RUN_DIR): Promise<PsJson> {
  const r = await popcorn(["ps", "--json"], { runDir });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as PsJson;
}

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: string | null }>;
  socket: string;
}

const runs: Run[] = [];

/** `popcorn run spin.wasm --kernels x86-64,aarch64` in the background. */
function startRun(runDir: string): Run {
  const child = spawn(process.execPath, [BIN, "run", SPIN, "--kernels", "x86-64,aarch64"], { cwd: tmp, env: { ...process.env, POPCORN_RUN_DIR: runDir } });
  const r: Run = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((res) => child.on("close", (code, signal) => res({ code, signal }))),
    socket: join(runDir, `${child.pid}.sock`),
  };
  child.stdout.setEncoding("utf8").on("data", (c: string) => (r.stdout += c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (r.stderr += c));
  runs.push(r);
  return r;
}

/** The run the first describe drives, and its process's pid. */
let run: Run | undefined;
let pid = 0;

/** Polls `popcorn ps --json` until the process runs on kernel `k`; gives what ps said. */
function runningOn(k: number) {
  return until(() => `pid ${pid} running on kernel ${k} (run exit status ${run?.child.exitCode}, stderr: ${run?.stderr})`, async () => {
    const ps = await psJson();
    const rows = ps.processes.filter((p) => p.pid === pid);
    return rows.length === 1 && rows[0]!.kernel === k && rows[0]!.state === "running" ? { ps, row: rows[0]! } : undefined;
  });
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, "dist/worker.js")) || !existsSync(join(ROOT, "dist/cli.js"))) {
    const script = (await import(pathToFileURL(join(ROOT, "build.mjs")).href)) as { build(): Promise<void> };
    await script.build();
  }
  writeFileSync(join(tmp, "spin.ts"), SPIN_SOURCE);
  const c = await popcorn(["compile", join(tmp, "spin.ts"), "-o", SPIN, "--runtime", "stub"], { ms: 60_000 });
  expect(c.code, c.stderr).toBe(0);
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  for (const r of runs) {
    if (r.child.exitCode !== null || r.child.signalCode !== null) continue;
    r.child.kill("SIGKILL");
    await Promise.race([r.exited, sleep(5000)]);
  }
  rmSync(tmp, { recursive: true, force: true });
});

describe("a run with two kernels, driven from outside", () => {
  it("shows up in `popcorn ps --json` on kernel 0 (x86-64), with its control socket", async () => {
    const r = (run = startRun(RUN_DIR));
    const child = r.child;

    const ps = await until(() => `the run in popcorn ps (run stderr: ${r.stderr})`, async () => {
      const ps = await psJson();
      return ps.processes.length ? ps : undefined;
    });
    expect(ps.runs).toHaveLength(1);
    expect(ps.runs[0]).toMatchObject({ pid: child.pid, socket: r.socket });
    expect(ps.runs[0]!.kernels).toEqual([{ id: 0, isa: "x86-64" }, { id: 1, isa: "aarch64" }]);
    expect(ps.processes).toHaveLength(1);
    expect(ps.processes[0]).toMatchObject({ kernel: 0, isa: "x86-64", run: child.pid, migrations: 0 });
    pid = ps.processes[0]!.pid;
    expect(existsSync(r.socket)).toBe(true);
  });

  it("`popcorn ps` prints a table row with the pid, kernel 0 and x86-64", async () => {
    const r = await popcorn(["ps"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PID\s+NAME\s+KERNEL\s+ISA\s+STATE/);
    expect(r.stdout).toMatch(new RegExp(`^${pid}\\s+\\S*spin\\.wasm\\s+0\\s+x86-64\\s+running\\b`, "m"));
  });

  it("`popcorn kill -35 <pid>` moves it to kernel 1 (aarch64)", async () => {
    const k = await popcorn(["kill", "-35", String(pid)]);
    expect(k.code, k.stderr).toBe(0);
    const { row } = await runningOn(1);
    expect(row).toMatchObject({ isa: "aarch64", migrations: 1 });
  });

  it("`popcorn migrate <pid> --to 0` brings it back to kernel 0", async () => {
    const m = await popcorn(["migrate", String(pid), "--to", "0"]);
    expect(m.code, m.stderr).toBe(0);
    const { row } = await runningOn(0);
    expect(row).toMatchObject({ isa: "x86-64", migrations: 2 });
  });

  it("`popcorn migrate <pid> --to 5` exits 2 naming the kernels there are, and the process stays", async () => {
    const m = await popcorn(["migrate", String(pid), "--to", "5"]);
    expect(m.code).toBe(2);
    expect(m.stderr).toMatch(/--to 5: no such kernel .*kernels 0\.\.1/);
    const { row } = await runningOn(0);
    expect(row.migrations).toBe(2);
  });

  it("`popcorn kill -35 999999` exits 2 naming the pid", async () => {
    const k = await popcorn(["kill", "-35", "999999"]);
    expect(k.code).toBe(2);
    expect(k.stderr).toMatch(/no popcorn process 999999\b/);
  });

  it("`popcorn dmesg` shows the migration in from kernel 0 and the one back", async () => {
    const d = await popcorn(["dmesg"]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(new RegExp(`kernel 1 \\(aarch64\\): pid ${pid} migrated in from kernel 0 \\(x86-64\\)`));
    expect(d.stdout).toMatch(new RegExp(`kernel 0 \\(x86-64\\): pid ${pid} migrated in from kernel 1 \\(aarch64\\)`));
  });

  it("`popcorn kill -9 <pid>` ends the run with status 137 and removes its socket", async () => {
    const r = run!;
    const k = await popcorn(["kill", "-9", String(pid)]);
    expect(k.code, k.stderr).toBe(0);
    const ex = await Promise.race([r.exited, sleep(10_000).then(() => undefined)]);
    expect(ex, `the run did not exit (stderr: ${r.stderr})`).toBeDefined();
    expect(ex).toEqual({ code: 137, signal: null });
    expect(r.stdout, "killed: main() never returned").toBe("");
    expect(existsSync(r.socket)).toBe(false);
    const ps = await popcorn(["ps"]);
    expect(ps.stdout).toMatch(/no popcorn runs with kernels on this machine/);
  });
});

describe("with no run", () => {
  it("`popcorn ps` says there are none", async () => {
    const r = await popcorn(["ps"], { runDir: join(tmp, "empty") });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^no popcorn runs with kernels on this machine/);
  });

  it("`popcorn ps` removes the socket of a run that died without cleaning up", async () => {
    const dir = join(tmp, "stale");
    const sock = join(dir, "4242.sock");
    // a run killed with SIGKILL: its socket file stays, nobody listens
    const server = spawn(process.execPath, [
      "-e",
      `require("fs").mkdirSync(${JSON.stringify(dir)}, { recursive: true }); require("net").createServer().listen(${JSON.stringify(sock)}, () => console.log("up"))`,
    ]);
    children.add(server);
    await until(() => "the fake run listening", async () => (existsSync(sock) ? true : undefined));
    server.kill("SIGKILL");
    await new Promise((r) => server.on("close", r));
    children.delete(server);
    expect(existsSync(sock)).toBe(true);
    const r = await popcorn(["ps"], { runDir: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^no popcorn runs with kernels on this machine/);
    expect(existsSync(sock)).toBe(false);
  });
});

/** Writes `lines` on one connection to a control socket; the reply lines that came back within `ms` (or before it closed). */
function talk(socket: string, lines: string[], ms = 3000): Promise<string[]> {
  return new Promise((resolve) => {
    const sock = createConnection(socket);
    let buf = "";
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(buf.split("\n").filter((l) => l));
    };
    const timer = setTimeout(done, ms);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(lines.map((l) => l + "\n").join("")));
    sock.on("data", (c: string) => {
      buf += c;
      if (buf.split("\n").length > lines.length) done();
    });
    sock.on("error", done);
    sock.on("close", done);
  });
}

describe("the control socket, spoken to directly", () => {
  const dir = join(tmp, "control");
  let r: Run;

  beforeAll(async () => {
    r = startRun(dir);
    await until(() => `the control socket of the run (stderr: ${r.stderr})`, async () => (existsSync(r.socket) ? true : undefined));
  });

  it("answers a line that is not JSON with an error and keeps serving", async () => {
    const replies = await talk(r.socket, ["ps please", JSON.stringify({ cmd: "dmesg" })]);
    expect(replies).toHaveLength(2);
    expect(JSON.parse(replies[0]!)).toEqual({ ok: false, error: "request is not JSON" });
    expect(JSON.parse(replies[1]!)).toMatchObject({ ok: true });
  });

  it("answers requests sent on one connection in the order they were sent (the protocol carries no request id)", async () => {
    const replies = await talk(r.socket, [JSON.stringify({ cmd: "ps" }), JSON.stringify({ cmd: "signal", pid: 1, signo: 35 })]);
    expect(replies).toHaveLength(2);
    expect(JSON.parse(replies[0]!), "the first reply answers ps").toHaveProperty("processes");
    expect(JSON.parse(replies[1]!)).toEqual({ ok: false, error: "no process 1 in this run" });
  });

  it("answers a request that is JSON but not an object (null) with an error, and the run goes on", async () => {
    const replies = await talk(r.socket, ["null"]);
    await sleep(200);
    expect(r.child.exitCode, `the run died: ${r.stderr}`).toBeNull();
    expect(replies).toHaveLength(1);
    expect(JSON.parse(replies[0]!)).toMatchObject({ ok: false });
    expect((await psJson(dir)).runs).toHaveLength(1);
  });
});
