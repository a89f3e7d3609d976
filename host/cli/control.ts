/**
 * The control endpoint of a running `popcorn run --kernels`: a Unix socket
 * per run, so that `popcorn ps`, `kill`, `migrate` and `dmesg` work from
 * another terminal.
 *
 * Where:  $POPCORN_RUN_DIR, else $XDG_RUNTIME_DIR/popcorn, else
 *         <tmpdir>/popcorn-<uid>; one socket per run, named <os pid>.sock.
 * Protocol: one JSON object per line each way, one reply per request.
 *
 *   request                                   reply
 *   {"cmd":"ps"}                              {"ok":true,"run":{…},"kernels":[{id,isa}],"processes":[ProcessInfo]}
 *   {"cmd":"dmesg"}                           {"ok":true,"lines":["[  0.001234] kernel 0 (x86-64): …"]}
 *   {"cmd":"signal","pid":N,"tid":T,"signo":35,"to":1}  {"ok":true} | {"ok":false,"error":"no process N in this run"}
 *
 * A socket whose run has died (connection refused) is removed by the first
 * client that finds it.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { EmbeddedKernels, ProcessInfo } from "../kernel/index.js";

export function runDir(): string {
  if (process.env.POPCORN_RUN_DIR) return process.env.POPCORN_RUN_DIR;
  if (process.env.XDG_RUNTIME_DIR) return join(process.env.XDG_RUNTIME_DIR, "popcorn");
  return join(tmpdir(), `popcorn-${userInfo().uid}`);
}

export type ControlRequest = { cmd: "ps" } | { cmd: "dmesg" } | { cmd: "signal"; pid: number; tid?: number; signo: number; to?: number };

export interface RunInfo {
  /** OS pid of the `popcorn run` */
  pid: number;
  program: string;
  socket: string;
}

export interface PsReply {
  ok: true;
  run: RunInfo;
  kernels: { id: number; isa: string }[];
  processes: ProcessInfo[];
}

/** Serves the control socket of this run until `close`. */
export async function serveControl(kernels: EmbeddedKernels, program: string, pids: () => number[]): Promise<{ close(): Promise<void>; path: string }> {
  const dir = runDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `${process.pid}.sock`);
  rmSync(path, { force: true });
  const run: RunInfo = { pid: process.pid, program, socket: path };
  const handle = async (req: ControlRequest): Promise<object> => {
    switch (req.cmd) {
      case "ps":
        return { ok: true, run, kernels: kernels.isas.map((isa, id) => ({ id, isa })), processes: await kernels.ps() } satisfies PsReply;
      case "dmesg":
        return { ok: true, lines: await kernels.dmesg() };
      case "signal":
        if (!pids().includes(req.pid)) return { ok: false, error: `no process ${req.pid} in this run` };
        kernels.signal(req.pid, req.signo, req.to, req.tid);
        return { ok: true };
      default:
        return { ok: false, error: `unknown command ${JSON.stringify((req as { cmd?: unknown }).cmd)}` };
    }
  };
  const server: Server = createServer((sock) => {
    let buf = "";
    // one reply per request, in the order the requests came, whatever each takes
    let replies: Promise<unknown> = Promise.resolve();
    const answer = (r: Promise<object>) => {
      replies = replies.then(() => r).then((x) => sock.write(JSON.stringify(x) + "\n"));
    };
    sock.setEncoding("utf8");
    sock.on("error", () => sock.destroy());
    sock.on("data", (chunk: string) => {
      buf += chunk;
      if (buf.length > 1 << 20) return sock.destroy();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let req: unknown;
        try {
          req = JSON.parse(line);
        } catch {
          answer(Promise.resolve({ ok: false, error: "request is not JSON" }));
          continue;
        }
        if (typeof req !== "object" || req === null) {
          answer(Promise.resolve({ ok: false, error: 'a request is a JSON object such as {"cmd":"ps"}' }));
          continue;
        }
        answer(handle(req as ControlRequest).catch((e: Error) => ({ ok: false, error: e.message })));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(path, { force: true });
      }),
  };
}

/** One request to one run's socket; undefined if the run is gone (its stale socket is removed). */
export function controlRequest<T>(socket: string, req: ControlRequest, timeoutMs = 5000): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(socket);
    let buf = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`${socket}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding("utf8");
    sock.on("connect", () => sock.write(JSON.stringify(req) + "\n"));
    sock.on("data", (c: string) => {
      buf += c;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      resolve(JSON.parse(buf.slice(0, nl)) as T);
    });
    sock.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ECONNREFUSED" || e.code === "ENOENT") {
        rmSync(socket, { force: true });
        resolve(undefined);
      } else reject(e);
    });
  });
}

/** The sockets of the runs on this machine (for this user). */
export function runSockets(): string[] {
  try {
    return readdirSync(runDir())
      .filter((f) => f.endsWith(".sock"))
      .map((f) => join(runDir(), f));
  } catch {
    return [];
  }
}
