/**
 * `popcorn kernel`: one kernel as its own OS process — cluster mode.
 *
 * Kernels find each other by an ordered list of addresses, as Popcorn's
 * `ip=` list: the kernel at index k of `--peers` is kernel k, and `--listen`
 * must be one of the entries. The TCP transport (msg/tcp.ts) links every
 * pair of kernels after a mutual HMAC handshake with the cluster key; the
 * same port takes clients (run/ps/kill/migrate/dmesg --cluster, role
 * "client"), which speak the client protocol of remote.ts.
 *
 * The kernel's control thread is this process's main thread; its cores are
 * worker threads, as in embedded mode. A peer's ISA is learned from its
 * handshake. When a peer leaves, migrations to it that it had not
 * acknowledged resume here, and processes that were running there are
 * reported lost to their clients (Kernel.peerDown).
 *
 * A client that does not keep up. A process's output goes, line by line,
 * to the client that started it, over that client's connection; while the
 * client reads slower than the process prints (its output redirected to a
 * file on a busy machine), or not at all (`popcorn run --cluster` stopped
 * with Ctrl-Z, piped into a reader that went to sleep), the socket's kernel
 * buffers fill and Node queues the rest in this process (framing.ts) —
 * without a bound, a kernel's memory grows with everything its processes
 * print (670 MiB for a 200 MB burst). So, as a full pipe makes its writer
 * wait:
 *
 *   post(r) to a client:  send r; unread = conn.bufferedBytes()
 *     unread > HOLD_BYTES (4 MiB)  → hold each process the client started
 *                                   (Kernel.hold: its threads here get no
 *                                   core, running ones yield at their next
 *                                   migration point; nothing is lost)
 *   'drain' with unread ≤ 1 MiB    → let them go
 *     unread > MAX_CLIENT_BACKLOG_BYTES (32 MiB): output that holding does
 *     not stop (threads on other kernels, a program without migration
 *     points) — the client is treated as gone:
 *       dmesg "client 127.0.0.1:53412 of pid 100001 stopped reading: 32.0 MiB of output unread — …"
 *       detach it (its processes run on, their output and exits are
 *       dropped); drop the frames queued behind its socket (discardQueued)
 *       send, for each process it started, exit {status 1, error: "output lost: …"}
 *       close: the exits go once the client reads again, then the socket ends;
 *              one that has not read for CLIENT_NOTICE_GRACE_MS (1 day) is cut off
 *
 * A held process shows as `runnable` in ps, with its client's `unread`
 * bytes (ps --json, and the UNREAD column); dmesg says at its end how often
 * it was held. A stop signal lets a held process go (its main must run to
 * act on it). A dropped client, once it runs again, prints what its socket
 * still held, then "popcorn: prog.wasm: output lost: …" (naming the pid,
 * which may still be running), and exits 1. The memory a client costs is at
 * most the larger bound plus one frame.
 */
import { profile } from "../isa/index.js";
import {
  ConfigError,
  formatAddress,
  type FramedConnection,
  type Hello,
  TcpTransport,
  parsePeers,
  readKeyFile,
} from "../msg/index.js";
import { type ClientLink, type ClientReply, type ClientRequest, workerFile } from "./client.js";
import { now } from "./control-word.js";
import { Kernel } from "./kernel.js";
import { type ClusterInfo, type RemoteRequest, checkRequest, decodeClientMessage, encodeClientMessage } from "./remote.js";

/** Unread output past which a client's processes are held until it reads (the header). */
export const HOLD_BYTES = 4 << 20;
/** The most a kernel queues for a client that does not read: past it, the client is treated as gone (the header). */
export const MAX_CLIENT_BACKLOG_BYTES = 32 << 20;
/** How long a dropped client has to read the exits that tell it why, before its connection is cut (the header). */
const CLIENT_NOTICE_GRACE_MS = 24 * 3600 * 1000;

const mib = (bytes: number) => (bytes / (1 << 20)).toFixed(1);

export interface DaemonOptions {
  isa: string;
  /** this kernel's address; must be in `peers` */
  listen: string;
  /** every kernel's address, comma-separated, in kernel-id order */
  peers: string;
  keyFile: string;
  cores?: number;
  /** every dmesg line as it is written (the daemon prints them) */
  log?(line: string): void;
}

export interface KernelDaemon {
  id: number;
  kernel: Kernel;
  close(): Promise<void>;
}

export async function startKernelDaemon(o: DaemonOptions): Promise<KernelDaemon> {
  profile(o.isa); // names the known ISAs on a typo
  const { peers, self } = parsePeers(o.peers, o.listen);
  if (self === undefined) throw new ConfigError(`--listen ${o.listen} is not in --peers ${o.peers} — list this kernel's own address too`);
  const key = readKeyFile(o.keyFile);
  /** this kernel's address, as clients give it to --cluster */
  const here = formatAddress(peers[self]!);
  const isas = peers.map((_, i) => (i === self ? o.isa : "?"));
  const arch = new Map<number, string>([[self, process.arch]]);
  let kernel: Kernel | undefined;
  const early: string[] = [];
  const log = (line: string) => (kernel ? kernel.dmesg(line) : early.push(line));

  const transport = await TcpTransport.start({
    self,
    peers,
    key,
    isa: o.isa,
    log,
    onPeerUp: (peer: number, hello?: Hello) => {
      if (hello?.isa) kernel?.setIsa(peer, hello.isa);
      if (hello?.arch) arch.set(peer, hello.arch);
      log(`kernel ${peer} (${hello?.isa ?? isas[peer]}) joined`);
    },
    onPeerDown: (peer: number, reason: string) => kernel?.peerDown(peer, reason),
    onClient: (conn: FramedConnection, hello: Hello) => attachClient(conn, hello),
  });
  kernel = new Kernel({ id: self, isas, cores: o.cores ?? 1, bootAt: now(), workerFile: workerFile(), onLog: o.log }, transport);
  for (const line of early) kernel.dmesg(line);

  const clusterInfo = (): ClusterInfo => ({
    self,
    kernels: peers.map((a, id) => ({
      id,
      address: `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`,
      isa: isas[id] ?? "?",
      up: id === self || transport.up(id),
      arch: arch.get(id),
      // a peer's cores are not in its handshake (msg/auth.ts Hello): left out rather than guessed
      cores: id === self ? (o.cores ?? 1) : undefined,
    })),
  });

  function attachClient(conn: FramedConnection, hello: Hello): void {
    const k = kernel;
    if (!k) return conn.close("the kernel is still starting");
    let dropped = false;
    let holding = false;
    const post = (r: ClientReply) => {
      conn.send(encodeClientMessage(r));
      const unread = conn.bufferedBytes();
      if (unread > MAX_CLIENT_BACKLOG_BYTES && !dropped) stoppedReading(unread);
      else if (unread > HOLD_BYTES && !holding) {
        // a full pipe: its writers wait until the client has read it
        holding = true;
        k.holdClient(link, true);
      }
    };
    conn.onDrain(() => {
      if (!holding || conn.bufferedBytes() > HOLD_BYTES / 4) return;
      holding = false;
      k.holdClient(link, false);
    });
    const link: ClientLink = { post, unread: () => conn.bufferedBytes(), close: () => conn.close("kernel shutting down") };

    /** The client has not read MAX_CLIENT_BACKLOG_BYTES: it is dropped, and told why if it ever reads again (the header). */
    const stoppedReading = (unread: number) => {
      dropped = true;
      const pids = k.pidsOf(link);
      k.detach(link);
      const of = pids.length ? ` of pid ${pids.join(", ")}` : "";
      k.dmesg(
        `client ${conn.remote}${of} stopped reading: ${mib(unread)} MiB of output unread — dropped as if it had disconnected` +
          (pids.length ? `; ${pids.length > 1 ? "they run" : "it runs"} on, output discarded` : ""),
      );
      conn.discardQueued();
      for (const pid of pids) {
        const error =
          `output lost: this client stopped reading, and kernel ${self} (${here}) dropped it with ${mib(unread)} MiB of output unread — ` +
          `pid ${pid} runs on there without its output (\`popcorn kill ${pid} --cluster ${here} --key-file …\` ends it if it still runs)`;
        conn.send(encodeClientMessage({ t: "exit", pid, status: 1, error }));
      }
      conn.close(`stopped reading (${mib(unread)} MiB unread)`, CLIENT_NOTICE_GRACE_MS);
    };

    const request = k.attach(link);
    conn.onFrame((bytes) => {
      let m: RemoteRequest;
      try {
        m = checkRequest(decodeClientMessage(bytes, `client ${conn.remote}`));
      } catch (e) {
        // a client that sends what no popcorn client sends would wait for a reply that never comes: it is told by the close
        k.dmesg(`client ${conn.remote} closed: ${(e as Error).message}`);
        return conn.close(`refused: ${(e as Error).message}`);
      }
      if (m.t === "cluster") return link.post({ t: "reply", req: m.req, data: clusterInfo() });
      if (m.t === "shutdown") return k.dmesg(`client ${conn.remote} asked for a shutdown: refused (stop the kernel process instead)`);
      request(m as ClientRequest);
    });
    conn.onClose(() => k.detach(link));
    void hello;
  }

  return {
    id: self,
    kernel,
    close: async () => {
      kernel!.shutdown();
    },
  };
}
