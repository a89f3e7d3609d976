/**
 * The one worker script of embedded mode (bundled to dist/worker.js): a
 * kernel's control thread or one of its cores, by `workerData.role`.
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { LocalTransport } from "../msg/index.js";
import { Core } from "./core.js";
import { Kernel } from "./kernel.js";

const d = workerData as
  | {
      role: "kernel";
      id: number;
      isas: string[];
      cores: number;
      bootAt: number;
      workerFile: string;
      trace?: boolean;
      client: MessagePort;
      peers: Record<string, MessagePort>;
    }
  | { role: "core"; kernel: number; core: number; isas: string[] };

if (d.role === "kernel") {
  const transport = new LocalTransport(d.id, new Map(Object.entries(d.peers).map(([k, p]) => [Number(k), p])));
  const kernel = new Kernel({ id: d.id, isas: d.isas, cores: d.cores, bootAt: d.bootAt, workerFile: d.workerFile, trace: d.trace }, transport);
  const client = d.client;
  const request = kernel.attach({ post: (r) => client.postMessage(r), watches: true, close: () => client.close() });
  client.on("message", request);
  void kernel.ready.then(() => client.postMessage({ t: "ready", kernel: d.id }));
} else {
  new Core({ kernel: d.kernel, core: d.core, isas: d.isas }, parentPort!);
}
