/**
 * Where a blob URL may lead (contract §9): http(s) only, and never to loopback, private, link-local or unique-local
 * addresses unless allowed. The check lives in the connection's own DNS lookup, so the address that was checked is
 * the one connected to: a name that resolves differently a moment later (DNS rebinding) changes nothing.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { SealError } from '../../shared/errors.js';
import { isPrivateAddress } from '../../shared/private-address.js';

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
