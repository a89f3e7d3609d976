// Cluster configuration (host/msg/address.ts): every mistake in a peer list
// or a key file is one line that names the entry and the fix; what
// `popcorn keygen` prints reads back as a key.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, formatAddress, generateKey, parseAddress, parsePeers, readKeyFile } from "../../host/msg/index.js";

const dir = mkdtempSync(join(tmpdir(), "popcorn-address-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ConfigError `f` throws: it must be one line. */
function configError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const m = (e as Error).message;
    expect(m).not.toContain("\n");
    return m;
  }
  throw new Error("no ConfigError");
}

describe("addresses", () => {
  it("reads IPv4, bracketed IPv6 and host names, and writes them back the same way", () => {
    expect(parseAddress("127.0.0.1:7100")).toEqual({ host: "127.0.0.1", port: 7100 });
    expect(parseAddress("[::1]:7100")).toEqual({ host: "::1", port: 7100 });
    expect(parseAddress("[0:0:0:0:0:0:0:1]:7100")).toEqual({ host: "::1", port: 7100 });
    expect(parseAddress(" Node1.LAN:80 ")).toEqual({ host: "node1.lan", port: 80 });
    for (const s of ["127.0.0.1:7100", "[::1]:7100", "[fe80::1]:1", "node1.lan:65535"]) expect(formatAddress(parseAddress(s))).toBe(s);
  });

  it("refuses a bad address with a line that names it and the fix", () => {
    expect(configError(() => parseAddress("127.0.0.1", "--listen"))).toMatch(/--listen "127.0.0.1" has no port — write host:port/);
    expect(configError(() => parseAddress("7100"))).toMatch(/has no host — write host:port, e.g. 127.0.0.1:7100/);
    expect(configError(() => parseAddress("127.0.0.1:"))).toMatch(/port "" is not a number from 1 to 65535/);
    expect(configError(() => parseAddress("127.0.0.1:0"))).toMatch(/port "0" is not a number from 1 to 65535/);
    expect(configError(() => parseAddress("127.0.0.1:65536"))).toMatch(/port "65536"/);
    expect(configError(() => parseAddress("127.0.0.1:71x0"))).toMatch(/port "71x0"/);
    expect(configError(() => parseAddress("::1:7100"))).toMatch(/write an IPv6 address in brackets, e.g. \[::1\]:7100/);
    expect(configError(() => parseAddress("[nothost]:7100"))).toMatch(/not an IPv6 address/);
    expect(configError(() => parseAddress("bad_host!:7100"))).toMatch(/neither an IP address nor a host name/);
  });
});

describe("peer lists", () => {
  it("numbers kernels by their place in the list and finds this kernel's own", () => {
    const r = parsePeers("127.0.0.1:7100,127.0.0.1:7101,[::1]:7102", "[::1]:7102");
    expect(r.peers.map(formatAddress)).toEqual(["127.0.0.1:7100", "127.0.0.1:7101", "[::1]:7102"]);
    expect(r.self).toBe(2);
    expect(parsePeers("127.0.0.1:7100").self).toBeUndefined();
  });

  it("ignores whitespace around the list and its entries (a trailing newline from a file)", () => {
    const r = parsePeers("  127.0.0.1:7100 , 127.0.0.1:7101\n", "127.0.0.1:7101\n");
    expect(r.peers).toHaveLength(2);
    expect(r.self).toBe(1);
  });

  it("refuses an empty entry, naming it", () => {
    expect(configError(() => parsePeers("127.0.0.1:7100,,127.0.0.1:7101"))).toMatch(/--peers entry 2 of 3 is empty \(",,"\) — remove it/);
    expect(configError(() => parsePeers("127.0.0.1:7100,127.0.0.1:7101,\n"))).toMatch(/entry 3 of 3 is empty \(a trailing comma\)/);
    expect(configError(() => parsePeers(",127.0.0.1:7100"))).toMatch(/entry 1 of 2 is empty \(a leading comma\)/);
    expect(configError(() => parsePeers("127.0.0.1:7100, ,127.0.0.1:7101"))).toMatch(/entry 2 of 3 is empty/);
    expect(configError(() => parsePeers(" \n"))).toMatch(/--peers is empty/);
  });

  it("refuses a bad port, naming the entry and its kernel", () => {
    expect(configError(() => parsePeers("127.0.0.1:7100,127.0.0.1:99999"))).toMatch(/--peers entry 2 \(kernel 1\) "127.0.0.1:99999": port "99999"/);
  });

  it("refuses the same address twice, also when written differently", () => {
    expect(configError(() => parsePeers("127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7100"))).toMatch(/lists 127.0.0.1:7100 twice \(kernels 0 and 2\) — every kernel needs its own address/);
    expect(configError(() => parsePeers("[::1]:7100,[0::1]:7100"))).toMatch(/lists \[::1\]:7100 twice/);
  });

  it("refuses a list without this kernel's own address", () => {
    expect(configError(() => parsePeers("127.0.0.1:7100,127.0.0.1:7101", "127.0.0.1:7102"))).toMatch(
      /--listen 127.0.0.1:7102 is not in --peers \(127.0.0.1:7100,127.0.0.1:7101\) — its own address is missing from the list: add it/,
    );
  });

  it("names the options as the caller calls them", () => {
    expect(configError(() => parsePeers("a:1", "b:1", { peers: "POPCORN_PEERS", listen: "POPCORN_LISTEN" }))).toMatch(/POPCORN_LISTEN b:1 is not in POPCORN_PEERS/);
  });
});

describe("key files", () => {
  const file = (name: string, content: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  it("reads back what keygen prints: 64 hex digits and a newline, the newline not part of the key", () => {
    const text = generateKey();
    expect(text).toMatch(/^[0-9a-f]{64}\n$/);
    expect(generateKey()).not.toBe(text);
    const key = readKeyFile(file("keygen.key", text));
    expect(Buffer.from(key).toString()).toBe(text.trim());
    expect(readKeyFile(file("crlf.key", text.trim() + "\r\n"))).toEqual(key);
  });

  it("takes any bytes, as they are", () => {
    const raw = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 1) & 0xff);
    expect(readKeyFile(file("raw.key", raw))).toEqual(raw);
  });

  it("refuses a missing, empty, short, huge file or a directory, naming the file", () => {
    expect(configError(() => readKeyFile(join(dir, "nope.key")))).toMatch(/key file .*nope.key: cannot read it \(no such file\) — create one with `popcorn keygen/);
    expect(configError(() => readKeyFile(file("empty.key", "")))).toMatch(/empty.key is empty/);
    expect(configError(() => readKeyFile(file("blank.key", " \n\n")))).toMatch(/blank.key is empty/);
    expect(configError(() => readKeyFile(file("short.key", "0123456789abcde\n")))).toMatch(/short.key holds 15 bytes, fewer than 16/);
    expect(configError(() => readKeyFile(file("huge.key", new Uint8Array(100_000))))).toMatch(/huge.key is 100000 bytes/);
    mkdirSync(join(dir, "adir"));
    expect(configError(() => readKeyFile(join(dir, "adir")))).toMatch(/adir is a directory/);
  });
});
