/**
 * Cluster configuration: kernel addresses and the cluster key.
 *
 * Kernels find each other by one ordered list of addresses, the same on
 * every kernel (as Popcorn's `ip=` list): the kernel at index k is kernel k.
 *
 *   --peers 127.0.0.1:7100,127.0.0.1:7101      kernel 0, kernel 1
 *   --peers "[::1]:7100, [::1]:7101"           IPv6 in brackets; spaces around entries are fine
 *
 * Every mistake is one line that names the entry and the fix: an empty entry
 * (",," or a trailing comma), a missing or bad port, an unbracketed IPv6
 * address, the same address twice, this kernel's own address missing from
 * the list. Whitespace around the list and around each entry (a trailing
 * newline from `$(cat peers.txt)`) is ignored.
 *
 * The key file: the key is the file's bytes with surrounding ASCII
 * whitespace (spaces, tabs, CR, LF) removed, used as is — no hex decoding.
 * `popcorn keygen` writes 64 hex digits and a newline (256 random bits); any
 * file of at least MIN_KEY_BYTES bytes works too (`head -c 32 /dev/urandom`).
 * Every kernel and client of a cluster must read the same bytes.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";

export interface Address {
  host: string;
  port: number;
}

/** A mistake in the cluster's configuration: one line, naming the thing and the fix. */
export class ConfigError extends Error {}

export const MIN_KEY_BYTES = 16;
/** A key file bigger than this is not a key file (a binary, a log…). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Host names as RFC 1123 allows them (letters, digits, hyphens, dots). */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/** "127.0.0.1:7100", "[::1]:7100", "node1.lan:7100"; `what` names the entry in errors (e.g. "--peers entry 2"). */
export function parseAddress(s: string, what = "address"): Address {
  const text = s.trim();
  const shown = JSON.stringify(text);
  if (text === "") throw new ConfigError(`${what} is empty — give host:port, e.g. 127.0.0.1:7100`);
  let host: string;
  let port: string;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    port = v6[2]!;
    if (!isIPv6(host)) throw new ConfigError(`${what} ${shown}: "${host}" in brackets is not an IPv6 address`);
    host = normalizeIPv6(host);
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0 && /^[0-9]+$/.test(text)) throw new ConfigError(`${what} ${shown} has no host — write host:port, e.g. 127.0.0.1:${text}`);
    if (colon < 0) throw new ConfigError(`${what} ${shown} has no port — write host:port, e.g. ${text}:7100`);
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(":")) {
      const example = isIPv6(host) && /^[0-9]+$/.test(port) ? `[${host}]:${port}` : `[${isIPv6(text) ? text : host}]:7100`;
      throw new ConfigError(`${what} ${shown}: write an IPv6 address in brackets, e.g. ${example}`);
    }
    if (host === "") throw new ConfigError(`${what} ${shown} has no host — write host:port, e.g. 127.0.0.1${text}`);
    if (!isIPv4(host) && !HOSTNAME.test(host)) throw new ConfigError(`${what} ${shown}: "${host}" is neither an IP address nor a host name`);
    host = host.toLowerCase();
  }
  if (!/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new ConfigError(`${what} ${shown}: port ${JSON.stringify(port)} is not a number from 1 to 65535`);
  }
  return { host, port: Number(port) };
}

/** "127.0.0.1:7100", "[::1]:7100": what parseAddress reads back. */
export function formatAddress(a: Address): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The canonical text of an IPv6 address (::1 for 0:0:0:0:0:0:0:1), so that duplicates are found. */
function normalizeIPv6(h: string): string {
  try {
    return new URL(`http://[${h}]/`).hostname.slice(1, -1);
  } catch {
    return h.toLowerCase(); // zone ids (fe80::1%eth0) are not URL hosts: keep them as written
  }
}

export interface PeerListNames {
  /** how errors name the list, e.g. "--peers" */
  peers: string;
  /** how errors name this kernel's own address, e.g. "--listen" */
  listen: string;
}

/**
 * The ordered, comma-separated list of kernel addresses: kernel id = index.
 * `listen`, when given, must be one of the entries: `self` is its index.
 */
export function parsePeers(
  list: string,
  listen?: string,
  names: PeerListNames = { peers: "--peers", listen: "--listen" },
): { peers: Address[]; self: number | undefined } {
  const text = list.trim();
  if (text === "") throw new ConfigError(`${names.peers} is empty — list every kernel's host:port, comma-separated, e.g. 127.0.0.1:7100,127.0.0.1:7101`);
  const entries = text.split(",");
  const peers: Address[] = [];
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    if (entry.trim() === "") {
      const where = i === entries.length - 1 ? "a trailing comma" : i === 0 ? "a leading comma" : '",,"';
      throw new ConfigError(`${names.peers} entry ${i + 1} of ${entries.length} is empty (${where}) — remove it: ${JSON.stringify(text)}`);
    }
    const a = parseAddress(entry, `${names.peers} entry ${i + 1} (kernel ${i})`);
    const key = formatAddress(a);
    const before = seen.get(key);
    if (before !== undefined) {
      throw new ConfigError(`${names.peers} lists ${key} twice (kernels ${before} and ${i}) — every kernel needs its own address`);
    }
    seen.set(key, i);
    peers.push(a);
  });
  if (listen === undefined) return { peers, self: undefined };
  const own = parseAddress(listen, names.listen);
  const self = seen.get(formatAddress(own));
  if (self === undefined) {
    throw new ConfigError(
      `${names.listen} ${formatAddress(own)} is not in ${names.peers} (${peers.map(formatAddress).join(",")}) — ` +
        `its own address is missing from the list: add it, at the same place in the list on every kernel`,
    );
  }
  return { peers, self };
}

/** The cluster key from a file (see the header for what the file may hold). */
export function readKeyFile(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new ConfigError(`key file ${path} is a directory — give the file \`popcorn keygen > cluster.key\` wrote`);
    if (st.size > MAX_KEY_FILE_BYTES) {
      throw new ConfigError(`key file ${path} is ${st.size} bytes — a key file holds one key (e.g. what \`popcorn keygen\` prints); is this the right file?`);
    }
    bytes = readFileSync(path);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM") {
      // it exists: a new key here would be one no other kernel or client has
      throw new ConfigError(
        `key file ${path}: cannot read it (permission denied) — make it (and its folders) readable by the user that runs popcorn (its owner, group or mode) — keep this key, the one every kernel and client shares`,
      );
    }
    const why = code === "ENOENT" ? "no such file" : (code ?? (e as Error).message);
    throw new ConfigError(`key file ${path}: cannot read it (${why}) — create one with \`popcorn keygen > ${path}\` and give every kernel a copy`);
  }
  const key = trimWhitespace(bytes);
  if (key.length === 0) throw new ConfigError(`key file ${path} is empty — fill it with \`popcorn keygen > ${path}\``);
  if (key.length < MIN_KEY_BYTES) {
    throw new ConfigError(`key file ${path} holds ${key.length} bytes, fewer than ${MIN_KEY_BYTES} — make a key with \`popcorn keygen > ${path}\``);
  }
  return key;
}

/** What `popcorn keygen` prints: 32 random bytes as 64 hex digits, and a newline. */
export function generateKey(): string {
  return randomBytes(32).toString("hex") + "\n";
}

function trimWhitespace(b: Uint8Array): Uint8Array {
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  let start = 0;
  let end = b.length;
  while (start < end && ws(b[start]!)) start++;
  while (end > start && ws(b[end - 1]!)) end--;
  return new Uint8Array(b.subarray(start, end));
}
