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
 */
import { profile } from "../isa/index.js";
import {
  ConfigError,
  type FramedConnection,
  type Hello,
  TcpTransport,
  parsePeers,
  readKeyFile,
} from "../msg/index.js";
import { type ClientLink, type ClientRequest, workerFile } from "./client.js";
import { now } from "./control-word.js";
import { Kernel } from "./kernel.js";
import { type ClusterInfo, type RemoteRequest, checkRequest, decodeClientMessage, encodeClientMessage } from "./remote.js";

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
    })),
  });

  function attachClient(conn: FramedConnection, hello: Hello): void {
    const k = kernel;
    if (!k) return conn.close("the kernel is still starting");
    const link: ClientLink = { post: (r) => conn.send(encodeClientMessage(r)), close: () => conn.close("kernel shutting down") };
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
