/**
 * Where a blob URL may lead (contract §9): http(s) only, and never to loopback, private, link-local or unique-local
 * addresses unless allowed. The check lives in the connection's own DNS lookup, so the address that was checked is
 * the one connected to: a name that resolves differently a moment later (DNS rebinding) changes nothing.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { SealError } from '../../shared/errors.js';

const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3], // multicast and reserved, broadcast included
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address is one a blob URL may not reach without COMFY_SEAL_BLOB_ALLOW_PRIVATE. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse
  const g = ipv6Groups(address);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  // Forms that reach an IPv4 address they carry are judged by that address: IPv4-compatible (::/96, :: and ::1
  // included) and -mapped (::ffff:0:0/96), NAT64's well-known prefix (64:ff9b::/96), 6to4 (2002::/16, the address
  // in bits 16–47). Local-use NAT64 (64:ff9b:1::/48) puts the address where its operator chose: refused whole, as is
  // Teredo (2001::/32), whose client address is obfuscated and whose relay picks the path.
  if (zeros(0, 5) && (g[5] === 0 || g[5] === 0xffff)) return PRIVATE.check(v4(g[6]!, g[7]!), 'ipv4');
  if (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) return PRIVATE.check(v4(g[6]!, g[7]!), 'ipv4');
  if (g[0] === 0x2002) return PRIVATE.check(v4(g[1]!, g[2]!), 'ipv4');
  if ((g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) || (g[0] === 0x2001 && g[1] === 0)) return true;
  return PRIVATE.check(address.replace(/%.*$/, ''), 'ipv6');
}

/** A valid IPv6 address (isIP said so) → its eight 16-bit groups; a zone (`%eth0`) and a trailing dotted quad allowed. */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const groups = (part: string | undefined) => (part ? part.split(':').map((h) => parseInt(h, 16)) : []);
  const [head, tail] = text.split('::');
  if (tail === undefined) return groups(head);
  const before = groups(head);
  const after = groups(tail);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
}

export function storageFailed(message: string, details: Record<string, unknown> = {}, cause?: unknown): SealError {
  return new SealError('STORAGE_FAILED', message, details, cause === undefined ? undefined : { cause });
}

/** The URL, parsed, if it is http(s); STORAGE_FAILED otherwise (the URL itself only in the sealed details). */
export function blobUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw storageFailed(`the ${what} URL is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw storageFailed(`the ${what} URL must be http(s), not ${url.protocol.replace(/[^a-z0-9+.-]/gi, '').slice(0, 10)}`, { host: url.host });
  }
  return url;
}

type Lookup = (hostname: string, options: { all: true }, callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

/** What the connection's lookup needs: the resolver (tests pass their own) and whether private addresses are allowed. */
export interface AddressPolicy {
  allowPrivate: boolean;
  resolve?: Lookup;
}

/** Thrown inside the lookup; carried out by the connection error as its cause. */
export class RefusedAddress extends Error {
  override name = 'RefusedAddress';
}

/**
 * A `lookup` for net/tls.connect: every address the name resolves to is checked (one private address refuses the
 * name), and the connection is handed exactly the checked addresses.
 */
export function checkedLookup(policy: AddressPolicy) {
  const resolve: Lookup = policy.resolve ?? ((host, options, callback) => dnsLookup(host, options, callback));
  return (
    hostname: string,
    options: { all?: boolean },
    callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const host = hostname.replace(/^\[|\]$/g, '');
    resolve(host, { all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      if (addresses.length === 0) return callback(Object.assign(new Error('no address'), { code: 'ENOTFOUND' }), []);
      if (!policy.allowPrivate && addresses.some((a) => isPrivateAddress(a.address))) {
        return callback(Object.assign(new RefusedAddress('private address'), { code: 'EBLOBPRIVATE' }), []);
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
