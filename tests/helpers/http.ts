/** GET a URL (a base and a route, or the whole URL) and parse its JSON body (typed loosely: tests assert on the shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(url: string, route = ''): Promise<any> {
  return (await fetch(`${url}${route}`)).json();
}

/** POST JSON to a base URL's route: the status and the parsed body (null when empty). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function postJson(url: string, route: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}
