// Cluster mode end to end: two `popcorn kernel` daemons on loopback ports,
// `popcorn run/ps/dmesg --cluster`, a process hopping between them, config
// mistakes refused in one line, a kernel that dies, and one that freezes.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { psOnCluster } from "../../host/cli/cluster.js";
import { freePort } from "../../host/cli/local-cluster.js";
import { type ClusterInfo, decodeClientMessage, encodeClientMessage, RemoteKernel, type RemoteRequest } from "../../host/kernel/remote.js";
import { acceptAuthenticated, readKeyFile } from "../../host/msg/index.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { popcornIn, ROOT, compileExample } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-cluster-"));
const keyFile = join(dir, "cluster.key");
const children: ChildProcess[] = [];

const popcorn = popcornIn(dir, 60_000);

function startKernel(isa: string, listen: string, peers: string, ...more: string[]): { child: ChildProcess; log: string[] } {
  const child = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "kernel", "--isa", isa, "--listen", listen, "--peers", peers, "--key-file", keyFile, ...more], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const log: string[] = [];
  child.stdout!.setEncoding("utf8").on("data", (d: string) => log.push(...d.split("\n").filter(Boolean)));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => log.push(...d.split("\n").filter(Boolean)));
  return { child, log };
}

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let a: string;
let b: string;
let kernels: { child: ChildProcess; log: string[] }[];

beforeAll(async () => {
  writeFileSync(keyFile, popcorn("keygen").stdout);
  writeFileSync(join(dir, "hello.wasm"), (await compileExample("hello")).wasm);
  writeFileSync(join(dir, "fib.wasm"), (await compileExample("fib", { runtime: "stub" })).wasm);
  a = `127.0.0.1:${await freePort()}`;
  b = `127.0.0.1:${await freePort()}`;
  kernels = [startKernel("x86-64", a, `${a},${b}`), startKernel("aarch64", b, `${a},${b}`)];
  await until("both kernels see each other", () => kernels.every((k) => k.log.some((l) => / joined/.test(l))));
});

afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("two kernel daemons on loopback", () => {
  it("run hello on the cluster: it hops between the x86-64 and the aarch64 kernel", () => {
    const r = popcorn("run", "hello.wasm", "--cluster", a, "--key-file", keyFile, "--", "3");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 1 (aarch64)",
      "Hello from kernel 0 (x86-64)",
      "Hello from kernel 1 (aarch64)",
      "hops = 3",
    ]);
  });

  it("a program migrated at many points over TCP gives the one-kernel output", () => {
    const plain = popcorn("run", "fib.wasm", "--", "12", "200");
    const r = popcorn("run", "fib.wasm", "--cluster", b, "--key-file", keyFile, "--migrate-at", "20,30,25,40,35,50", "--", "12", "200");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(plain.stdout);
  });

  it("ping --cluster measures the round trips between a running cluster's kernels, without a floor", () => {
    for (const [from, to] of [[a, b], [b, a]] as [string, string][]) {
      const r = popcorn("ping", "--cluster", from, "--key-file", keyFile, "--count", "200", "--json");
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j).toMatchObject({ transport: "tcp", size: 64, count: 200 });
      expect(j.p50us).toBeGreaterThan(0);
      expect(j.floorP50us).toBeUndefined();
      expect(j.ratio).toBeUndefined();
      expect(j.floor).toMatch(new RegExp(`^none: a running cluster, kernel ${from} to kernel \\d at ${to}$`));
    }
    expect(popcorn("ping", "--cluster", a).stderr).toMatch(/--cluster needs --key-file/);
  });

  it("ps and dmesg --cluster see both kernels and the migrations", () => {
    const ps = popcorn("ps", "--cluster", a, "--key-file", keyFile, "--json");
    expect(ps.code, ps.stderr).toBe(0);
    const j = JSON.parse(ps.stdout);
    expect(j.kernels.map((k: { isa: string; up: boolean }) => `${k.isa}:${k.up}`)).toEqual(["x86-64:true", "aarch64:true"]);
    const d = popcorn("dmesg", "--cluster", b, "--key-file", keyFile);
    expect(d.stdout).toMatch(/kernel 1 \(aarch64\): pid \d+ migrated in from kernel 0 \(x86-64\)/);
  });

  it("kill -35 moves a running process to the other kernel over TCP, and kill -9 ends it", async () => {
    writeFileSync(join(dir, "count.wasm"), (await compileExample("count", { runtime: "stub" })).wasm);
    const run = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "count.wasm", "--cluster", a, "--key-file", keyFile, "--", "2000000000"], { cwd: dir });
    children.push(run);
    const exited = new Promise<number | null>((r) => run.once("exit", (code) => r(code)));
    const where = () => {
      const j = JSON.parse(popcorn("ps", "--cluster", a, "--key-file", keyFile, "--json").stdout);
      return j.processes.find((p: { name: string }) => p.name === "count.wasm") as { pid: number; kernel: number } | undefined;
    };
    await until("count shows in ps", () => where() !== undefined);
    const { pid } = where()!;
    expect(popcorn("kill", "-35", String(pid), "--cluster", a, "--key-file", keyFile).code).toBe(0);
    await until("count runs on kernel 1", () => where()?.kernel === 1);
    expect(popcorn("kill", "-9", String(pid), "--cluster", b, "--key-file", keyFile).code).toBe(0);
    expect(await exited).toBe(137);
  });

  it("SIGTERM to run --cluster stops the process there as `popcorn kill -15` does: killed by signal 15, exit 143", async () => {
    writeFileSync(join(dir, "count.wasm"), (await compileExample("count", { runtime: "stub" })).wasm);
    const run = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "count.wasm", "--cluster", a, "--key-file", keyFile, "--", "20000000000"], { cwd: dir });
    children.push(run);
    let err = "";
    run.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => run.once("exit", (code) => r(code)));
    const running = () => JSON.parse(popcorn("ps", "--cluster", a, "--key-file", keyFile, "--json").stdout).processes.some((p: { name: string }) => p.name === "count.wasm");
    await until("count shows in ps", running);
    run.kill("SIGTERM");
    expect(await exited, err).toBe(143);
    // the program is named once
    expect(err.trim().split("\n").at(-1)).toMatch(/^popcorn: count\.wasm: killed by signal 15$/);
    await until("count is gone from the cluster", () => !running());
  });

  it("threads over TCP: a barrier stencil and a producer/consumer spread over both kernels give the one-kernel results", async () => {
    for (const name of ["stencil", "prodcons"]) writeFileSync(join(dir, `${name}.wasm`), (await compileExample(name)).wasm);
    const stencil = popcorn("run", "stencil.wasm", "--cluster", a, "--key-file", keyFile, "--", "4", "20");
    expect(stencil.code, stencil.stderr).toBe(0);
    expect(stencil.stdout).toBe(popcorn("run", "stencil.wasm", "--", "4", "20").stdout);
    expect(stencil.stdout).toMatch(/ ok$/m);
    const prodcons = popcorn("run", "prodcons.wasm", "--cluster", a, "--key-file", keyFile, "--", "300");
    expect(prodcons.code, prodcons.stderr).toBe(0);
    expect(prodcons.stdout.trim()).toBe("prodcons 300: sum 45150 ok");
    const log = popcorn("dmesg", "--cluster", a, "--key-file", keyFile).stdout;
    expect(log, "threads of both ran on kernel 1").toMatch(/kernel 1 \(aarch64\): pid \d+\.\d+ migrated in from kernel 0/);
    // --json: the run's summary, as on embedded kernels
    const j = popcorn("run", "prodcons.wasm", "--cluster", a, "--key-file", keyFile, "--json", "--", "50");
    expect(j.code, j.stderr).toBe(0);
    const summary = JSON.parse(j.stdout);
    expect(summary.status).toBe(0);
    expect(summary.output).toEqual([{ stream: 1, line: "prodcons 50: sum 1275 ok" }]);
    expect(summary.dmesg.some((l: string) => / exited with status 0/.test(l))).toBe(true);
    // the run's own log: its process's lines, not the daemons' whole log (the runs before it, peers joining)
    const pids = new Set(summary.dmesg.map((l: string) => /\bpid (\d+)/.exec(l)?.[1]).filter((p: string | undefined) => p !== undefined));
    expect([...pids]).toEqual([String(summary.pid)]);
    expect(summary.dmesg.some((l: string) => / joined| listening on /.test(l)), "the kernels' start, before the run").toBe(false);
  });

  it("refuses a client with the wrong key, naming why", () => {
    const bad = join(dir, "bad.key");
    writeFileSync(bad, popcorn("keygen").stdout);
    const r = popcorn("ps", "--cluster", a, "--key-file", bad);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toMatch(/^popcorn: .*(key|authenticat)/i);
  });
});

describe("each kernel's cores", () => {
  it("ps --cluster says each kernel's cores as it was started with; a kernel does not invent a peer's", async () => {
    const [c0, c1] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const pair = [startKernel("x86-64", c0, `${c0},${c1}`), startKernel("aarch64", c1, `${c0},${c1}`, "--cores", "2")];
    try {
      await until("both kernels see each other", () => pair.every((k) => k.log.some((l) => / joined/.test(l))));
      const ps = popcorn("ps", "--cluster", c0, "--key-file", keyFile);
      expect(ps.code, ps.stderr).toBe(0);
      expect(ps.stdout.split("\n").slice(0, 2)).toEqual([
        `kernel 0 x86-64 ${c0} up (node ${process.arch}, 1 core)`,
        `kernel 1 aarch64 ${c1} up (node ${process.arch}, 2 cores)`,
      ]);
      const json = JSON.parse(popcorn("ps", "--cluster", c1, "--key-file", keyFile, "--json").stdout);
      expect(json.kernels.map((k: { cores?: number }) => k.cores)).toEqual([1, 2]);
      // what kernel 0 itself says: its own cores, and none for its peer, whose handshake does not tell them
      const k = await RemoteKernel.connect(c0, readKeyFile(keyFile));
      try {
        const info = await k.cluster();
        expect(info.kernels.map((x) => x.cores)).toEqual([1, undefined]);
      } finally {
        k.close();
      }
    } finally {
      for (const k of pair) k.child.kill("SIGTERM");
    }
  });
});

describe("config mistakes get one line and exit 2", () => {
  const k = (...args: string[]) => popcorn("kernel", "--isa", "x86-64", "--key-file", keyFile, ...args);
  it.each([
    ["duplicate addresses", ["--listen", "127.0.0.1:1", "--peers", "127.0.0.1:1,127.0.0.1:1"], /duplicate|twice/i],
    ["its own address missing", ["--listen", "127.0.0.1:9", "--peers", "127.0.0.1:1,127.0.0.1:2"], /not in --peers|missing/i],
    ["a trailing comma", ["--listen", "127.0.0.1:1", "--peers", "127.0.0.1:1,127.0.0.1:2,"], /empty/i],
    ["a bad port", ["--listen", "127.0.0.1:1", "--peers", "127.0.0.1:1,127.0.0.1:99999"], /port/i],
  ])("%s", (_what, args, expected) => {
    const r = k(...args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(expected);
  });

  it("an unreadable key file", () => {
    const r = popcorn("kernel", "--isa", "x86-64", "--listen", "127.0.0.1:1", "--peers", "127.0.0.1:1", "--key-file", join(dir, "missing.key"));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/missing\.key/);
  });
});

describe("a kernel that stops answering", () => {
  // a kernel of its own (a one-kernel cluster): freezing it must not disturb the two above
  it("run --cluster ends within the heartbeat bound with one line naming the kernel, and exits 1; --json prints its JSON", async () => {
    writeFileSync(join(dir, "count.wasm"), (await compileExample("count")).wasm);
    const c = `127.0.0.1:${await freePort()}`;
    const frozen = startKernel("x86-64", c, c);
    const runs: { child: ChildProcess; stdout: string; stderr: string; exited: Promise<number | null> }[] = [];
    try {
      await until("the kernel listens", () => frozen.log.some((l) => / listening on /.test(l)));
      for (const json of [false, true]) {
        const args = ["run", "count.wasm", "--cluster", c, "--key-file", keyFile, ...(json ? ["--json"] : []), "--", "2000000000"];
        const child = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), ...args], { cwd: dir });
        children.push(child);
        const r = { child, stdout: "", stderr: "", exited: new Promise<number | null>((res) => child.once("exit", (code) => res(code))) };
        child.stdout!.setEncoding("utf8").on("data", (d: string) => (r.stdout += d));
        child.stderr!.setEncoding("utf8").on("data", (d: string) => (r.stderr += d));
        runs.push(r);
      }
      await until("both runs started", () => frozen.log.filter((l) => /count\.wasm started/.test(l)).length === 2);
      frozen.child.kill("SIGSTOP");
      const t0 = Date.now();
      const bound = 20_000; // KERNEL_SILENCE_MS (10 s) and a margin: the point is that it ends at all
      const ended = await Promise.race([
        Promise.all(runs.map((r) => r.exited)),
        new Promise<"hung">((res) => setTimeout(() => res("hung"), bound).unref()),
      ]);
      const took = Date.now() - t0;
      expect(ended, `the clients did not end within ${bound / 1000} s of the kernel freezing`).toEqual([1, 1]);
      expect(took).toBeGreaterThanOrEqual(7_000); // not before the bound: the last heartbeat came at most two 1 s periods before the freeze
      expect(took).toBeLessThan(15_000);
      const [plain, json] = runs as [(typeof runs)[0], (typeof runs)[0]];
      expect(plain.stderr.trim().split("\n")).toEqual([
        expect.stringMatching(new RegExp(`^popcorn: count\\.wasm: kernel ${c.replace(/\./g, "\\.")} stopped answering \\(no heartbeat in 10 s\\) — pid \\d+ may still be running there`)),
      ]);
      expect(JSON.parse(json.stdout)).toMatchObject({ status: 1, error: expect.stringMatching(/stopped answering \(no heartbeat in 10 s\) — pid \d+ may still be running there/) });
      expect(json.stderr).toBe("");
    } finally {
      frozen.child.kill("SIGCONT");
      frozen.child.kill("SIGKILL");
      for (const r of runs) r.child.kill("SIGKILL");
    }
  }, 60_000);
});

describe("a kernel that goes away", () => {
  it("a kernel that does not answer is left out of ps, which still answers", async () => {
    kernels[1]!.child.kill("SIGSTOP");
    try {
      const r = popcorn("ps", "--cluster", a, "--key-file", keyFile, "--json");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/kernel 1 \(127\.0\.0\.1:\d+\) does not answer: .* — left out/);
    } finally {
      kernels[1]!.child.kill("SIGCONT");
    }
  });

  it("kernels that take the connection but never answer the handshake cost one handshake timeout together, not one each", async () => {
    const sockets: Socket[] = [];
    const servers: Server[] = [];
    const listen = async (onConnection: (s: Socket) => void) => {
      const server = createServer((s) => {
        sockets.push(s);
        s.on("error", () => {});
        onConnection(s);
      });
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      return `127.0.0.1:${(server.address() as { port: number }).port}`;
    };
    // two "kernels" that accept TCP and say nothing (frozen, or not popcorn), and a first kernel that says they are up
    const silent = [await listen(() => {}), await listen(() => {})];
    const info: ClusterInfo = {
      self: 0,
      kernels: [{ id: 0, address: "", isa: "x86-64", up: true }, ...silent.map((address, i) => ({ id: i + 1, address, isa: "aarch64", up: true }))],
    };
    const first = await listen((s) => {
      acceptAuthenticated(s, readKeyFile(keyFile), { role: "kernel", id: 0, isa: "x86-64" }).then(({ conn }) => {
        conn.onFrame((bytes) => {
          const m = decodeClientMessage<RemoteRequest>(bytes, "the client");
          if (m.t === "cluster" || m.t === "ps") conn.send(encodeClientMessage({ t: "reply", req: m.req, data: m.t === "ps" ? [] : info }));
        });
      }, () => {});
    });
    info.kernels[0]!.address = first;
    const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const TIMEOUT = 1000;
    try {
      const t0 = Date.now();
      const code = await psOnCluster({ cluster: first, keyFile, json: true, handshakeTimeoutMs: TIMEOUT });
      const took = Date.now() - t0;
      expect(code).toBe(0);
      expect(took).toBeGreaterThanOrEqual(TIMEOUT - 100);
      expect(took, "the silent kernels were waited for one after the other").toBeLessThan(2 * TIMEOUT);
      expect(JSON.parse(String(out.mock.calls[0]![0]))).toEqual({ kernels: info.kernels, processes: [] });
      // each one left out with its own line, in kernel order
      expect(err.mock.calls.map((c) => String(c[0]))).toEqual(
        silent.map((address, i) => expect.stringMatching(new RegExp(`^popcorn: kernel ${i + 1} \\(${address}\\) does not answer: ${address}: no handshake within ${TIMEOUT} ms .* — left out\n$`))),
      );
    } finally {
      out.mockRestore();
      err.mockRestore();
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
    }
  });

  it("a process whose thread runs on a kernel that dies ends with an error naming the thread, instead of hanging", async () => {
    writeFileSync(join(dir, "count.wasm"), (await compileExample("count")).wasm);
    const run = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "count.wasm", "--cluster", a, "--key-file", keyFile, "--", "2", "2000000000"], { cwd: dir });
    children.push(run);
    let stderr = "";
    run.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((r) => run.once("exit", (code) => r(code)));
    const thread2 = () => {
      const j = JSON.parse(popcorn("ps", "--cluster", a, "--key-file", keyFile, "--json").stdout);
      return j.processes.find((p: { name: string; tid: number }) => p.name === "count.wasm" && p.tid === 2) as { pid: number; kernel: number } | undefined;
    };
    await until("thread 2 shows in ps", () => thread2() !== undefined);
    expect(popcorn("kill", "-35", `${thread2()!.pid}.2`, "--cluster", a, "--key-file", keyFile).code).toBe(0);
    await until("thread 2 runs on kernel 1", () => thread2()?.kernel === 1);
    kernels[1]!.child.kill("SIGKILL");
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/lost: kernel 1 \(aarch64\) went away while thread 2 ran there/);
  });

  it("is reported by its peer, which keeps serving", async () => {
    kernels[1]!.child.kill("SIGKILL");
    await until("kernel 0 notices", () => kernels[0]!.log.some((l) => /kernel 1 .*left/.test(l)));
    const r = popcorn("run", "fib.wasm", "--cluster", a, "--key-file", keyFile, "--", "10", "20");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fib\(10\) = 55/);
  });

  it("comes back as a new kernel: it gets the program again and processes hop to it", async () => {
    const joins = kernels[0]!.log.filter((l) => / joined/.test(l)).length;
    kernels[1] = startKernel("aarch64", b, `${a},${b}`);
    await until("kernel 1 joins again", () => kernels[0]!.log.filter((l) => / joined/.test(l)).length > joins);
    const r = popcorn("run", "hello.wasm", "--cluster", a, "--key-file", keyFile, "--", "2");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(["Hello from kernel 0 (x86-64)", "Hello from kernel 1 (aarch64)", "Hello from kernel 0 (x86-64)", "hops = 2"]);
  });

  it("a --json run whose kernel dies still prints its JSON, with the error, and exits 1", async () => {
    const run = spawn(process.execPath, [join(ROOT, "bin/popcorn.js"), "run", "count.wasm", "--cluster", a, "--key-file", keyFile, "--json", "--", "1", "2000000000"], { cwd: dir });
    children.push(run);
    let stdout = "";
    run.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    const exited = new Promise<number | null>((r) => run.once("exit", (code) => r(code)));
    await until("it runs", () => popcorn("ps", "--cluster", a, "--key-file", keyFile).stdout.includes("count.wasm"));
    kernels[0]!.child.kill("SIGKILL");
    expect(await exited).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ status: 1, error: expect.stringMatching(/lost the connection/) });
  });
});

describe("popcorn ping", () => {
  it.each(["local", "tcp"])("measures %s round trips and the floor of the same run", (transport) => {
    const r = popcorn("ping", "--transport", transport, "--count", "200", "--json");
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.transport).toBe(transport);
    expect(j.p50us).toBeGreaterThan(0);
    expect(j.floorP50us).toBeGreaterThan(0);
    expect(j.ratio).toBeCloseTo(j.p50us / j.floorP50us, 1);
  });
});
