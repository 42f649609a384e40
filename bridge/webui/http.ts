/** The few HTTP helpers the web UI routes share: answers in aiohttp's shapes and a bounded body read. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An answer decided deep in a route (bad name, body too large): the router sends it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
  ) {
    super(text);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A plain-text answer (aiohttp's `web.Response(text=...)`); an empty text is an empty body, as ComfyUI sends. */
export function sendText(res: ServerResponse, status: number, text = ''): void {
  const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(text) };
  if (text) headers['content-type'] = 'text/plain; charset=utf-8';
  res.writeHead(status, headers);
  res.end(text);
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw new HttpError(413, `The body is larger than ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `The body is larger than ${limit} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A JSON body; malformed JSON is the caller's mistake (ComfyUI answers a bare 500 here). */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'The body is not JSON: send the value as JSON (a string in quotes, true, 3, {...}).');
  }
}
