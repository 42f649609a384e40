/**
 * A tiny storage stand-in on loopback for the failures s3rver never gives (it accepts any signature): each path says
 * how to answer. `/ok/NAME` serves or stores `objects[NAME]`; `/403`, `/403-expired`, `/404`, `/500`, `/hang`,
 * `/stall` (headers, then silence), `/truncate/NAME` (half the body, then the connection is cut), `/flaky/NAME`
 * (500 on the first try). A PUT with `If-None-Match: *` to a name that holds an object gets 412, as S3 answers (s3rver
 * ignores the header); `/no-cond/NAME` answers any PUT carrying the header 501, as a store without conditional writes
 * may. `hits` counts requests per path; `held`, when set, is awaited before a request is answered.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface BlobServer {
  url: string;
  objects: Map<string, Buffer>;
  hits: Map<string, number>;
  /** Awaited before each answer (the request's path): a test looks at the worker while storage keeps it waiting. */
  held?: ((path: string) => Promise<void>) | undefined;
  close(): Promise<void>;
}

export async function startBlobServer(): Promise<BlobServer> {
  const objects = new Map<string, Buffer>();
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const blob: BlobServer = { url: '', objects, hits, close: () => Promise.resolve() };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, mode = '', name = ''] = url.pathname.split('/');
    const count = (hits.get(url.pathname) ?? 0) + 1;
    hits.set(url.pathname, count);
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', async () => {
      await blob.held?.(url.pathname);
      if (mode === 'hang') return; // never answers
      if (mode === 'stall') {
        res.writeHead(200, { 'content-length': String(objects.get('a')?.length ?? 1000) });
        res.write('x');
        return;
      }
      if (mode === '403') return void res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
      if (mode === '403-expired') return void res.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
      if (mode === '404') return void res.writeHead(404).end('<Error><Code>NoSuchKey</Code></Error>');
      if (mode === '500' || (mode === 'flaky' && count === 1)) return void res.writeHead(500).end('<Error><Code>InternalError</Code></Error>');
      if (req.method === 'PUT') {
        if (mode === 'no-cond' && req.headers['if-none-match'] !== undefined) {
          return void res.writeHead(501).end('<Error><Code>NotImplemented</Code><Message>A header you provided implies functionality that is not implemented</Message></Error>');
        }
        if (req.headers['if-none-match'] === '*' && objects.has(name)) {
          return void res.writeHead(412).end('<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
        }
        objects.set(name, Buffer.concat(body));
        return void res.writeHead(200).end();
      }
      const data = objects.get(name);
      if (!data) return void res.writeHead(404).end();
      if (mode === 'truncate') {
        res.writeHead(200, { 'content-length': String(data.length) });
        res.write(data.subarray(0, data.length >> 1), () => res.socket?.destroy());
        return;
      }
      res.writeHead(200, { 'content-length': String(data.length) }).end(data);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  blob.url = `http://127.0.0.1:${port}`;
  blob.close = () =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return blob;
}
