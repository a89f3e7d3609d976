// Loopback plumbing for the TCP tests (framing, auth, tcp): free ports,
// connected socket pairs, and a registry that closes whatever a test opened
// so that no socket, server or timer outlives it.
import { connect, createServer, type Server, type Socket } from "node:net";

type Closable = { destroy(): void } | { close(): void };

export class Opened {
  private readonly things: Closable[] = [];
  add<T extends Closable>(t: T): T {
    this.things.push(t);
    return t;
  }
  closeAll(): void {
    for (const t of this.things.splice(0).reverse()) {
      if ("destroy" in t) t.destroy();
      else t.close();
    }
  }
}

/** `n` ports free on 127.0.0.1 right now (listen on port 0, note the port, close). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    servers.push(s);
    ports.push((s.address() as { port: number }).port);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A listening server on an ephemeral loopback port. */
export async function listening(opened: Opened, onConnection: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = opened.add(createServer(onConnection));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as { port: number }).port };
}

/** Two ends of one loopback TCP connection: [the connecting end, the accepted end]. */
export async function socketPair(opened: Opened): Promise<[Socket, Socket]> {
  let accepted!: (s: Socket) => void;
  const got = new Promise<Socket>((r) => (accepted = r));
  const { port } = await listening(opened, (s) => accepted(opened.add(s)));
  const a = opened.add(connect(port, "127.0.0.1"));
  await new Promise<void>((r) => a.once("connect", () => r()));
  const b = await got;
  a.setNoDelay(true);
  b.setNoDelay(true);
  return [a, b];
}

/** A raw client socket to a port, connected. */
export async function rawClient(opened: Opened, port: number): Promise<Socket> {
  const s = opened.add(connect(port, "127.0.0.1"));
  s.on("error", () => {});
  await new Promise<void>((r, j) => {
    s.once("connect", () => r());
    s.once("error", j);
  });
  return s;
}

/** Waits until `done()`, polling; fails naming `what` after `ms`. */
export async function until(what: string, done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Resolves when the socket has closed. */
export function closedSocket(s: Socket): Promise<void> {
  return s.destroyed && s.closed ? Promise.resolve() : new Promise((r) => s.once("close", () => r()));
}

/** The frame bytes for `payload`: u32 LE length, then the payload. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length, true);
  out.set(payload, 4);
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
