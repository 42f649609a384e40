/**
 * The addresses a blob URL may not reach unless the worker allows it (contract §9: loopback, private, link-local,
 * unique-local): the pure rule, shared so that the client's doctor warns about the address the worker will refuse.
 */
import { BlockList, isIP } from 'node:net';

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
