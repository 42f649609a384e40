/**
 * What every route of the ComfyUI surface and the bridge's web UI share: answers in aiohttp's shapes (JSON, plain
 * text), bounded bodies, and errors that carry their answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Thrown by a route: the server answers `status` with `body`, as plain text when it is a string, else as JSON. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'string' ? body : String(status));
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

/** The answer an HttpError carries. */
export function sendError(res: ServerResponse, error: HttpError): void {
  if (typeof error.body === 'string') sendText(res, error.status, error.body);
  else sendJson(res, error.status, error.body);
}

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, `The body is larger than ${limit} bytes.`);
  if (Number(req.headers['content-length']) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw tooLarge();
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A JSON object body, as ComfyUI's core routes read it: empty is `{}`, malformed is aiohttp's unhandled 500. */
export async function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const body = await readBody(req, limit);
  try {
    return body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  } catch {
    throw new HttpError(500, { error: 'Internal Server Error' });
  }
}

/** Any JSON value (the web UI's settings); malformed JSON is the caller's mistake, said so (ComfyUI: a bare 500). */
export async function readJsonValue(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'The body is not JSON: send the value as JSON (a string in quotes, true, 3, {...}).');
  }
}
