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
  const lower = address.toLowerCase();
  // IPv4-mapped and -compatible forms reach the IPv4 address they carry.
  const mapped = /^(?:0*:)*(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/.exec(lower)?.[1] ?? mappedHex(lower);
  if (mapped) return PRIVATE.check(mapped, 'ipv4');
  return PRIVATE.check(lower, 'ipv6');
}

/** `::ffff:7f00:1` → 127.0.0.1 (the hex spelling of a mapped address). */
function mappedHex(address: string): string | null {
  const m = /^(?:0*:)*ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (!m) return null;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
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
