/** GET a URL and parse its JSON body (typed loosely: tests assert on the shape). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function getJson(url: string): Promise<any> {
  return (await fetch(url)).json();
}
