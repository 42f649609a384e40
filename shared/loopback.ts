/**
 * Whether a `Host` header names this machine's loopback. Servers that listen on loopback for the user alone (the
 * local endpoint, the bridge) refuse any other Host: a web page whose own name is made to resolve to 127.0.0.1 (DNS
 * rebinding) sends its own name.
 */
import { isIPv4 } from 'node:net';

const LOOPBACK_V6 = new Set(['::1', '0:0:0:0:0:0:0:1']);

/** Whether a `Host` header names this machine's loopback: localhost, 127.x.x.x or [::1], with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const v6 = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(host);
  if (v6) return LOOPBACK_V6.has(v6[1]!.toLowerCase());
  const name = /^([^:]+)(?::\d{1,5})?$/.exec(host)?.[1]?.toLowerCase();
  if (name === undefined) return false;
  return name === 'localhost' || (isIPv4(name) && name.startsWith('127.'));
}
