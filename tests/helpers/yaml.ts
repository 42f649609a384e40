/**
 * A reader for the block-style YAML our workflow files are written in: maps, lists, plain and quoted scalars, `|`
 * blocks, `[a, b]` lists, comments. Anything else (anchors, folded blocks, flow maps, tabs...) throws rather than be
 * read wrong: the repository has no YAML dependency, and a test that checks a workflow must see what GitHub sees.
 */
export type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };

interface Line {
  indent: number;
  text: string;
  /** 1-based, for errors. */
  no: number;
  raw: string;
}

/** The line without a trailing ` # comment` (a `#` inside quotes stays). */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || text[i - 1] === ' ')) {
      return text.slice(0, i).trimEnd();
    }
  }
  return text.trimEnd();
}

function scalar(text: string, no: number): Yaml {
  const fail = (): never => {
    throw new Error(`yaml: line ${no}: unsupported value ${JSON.stringify(text)}`);
  };
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) fail();
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) fail();
    return JSON.parse(text) as string;
  }
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) fail();
    const inner = text.slice(1, -1).trim();
    return inner ? inner.split(',').map((part) => scalar(part.trim(), no)) : [];
  }
  if (/^[&*!{>|%@`]/.test(text)) fail();
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~' || text === '') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  return text;
}

export function parseYaml(source: string): Yaml {
  const lines: Line[] = [];
  source.split('\n').forEach((raw, i) => {
    if (raw.includes('\t')) throw new Error(`yaml: line ${i + 1}: tab`);
    lines.push({ indent: raw.length - raw.trimStart().length, text: stripComment(raw.trim()), no: i + 1, raw });
  });
  let at = 0;
  const skipBlank = () => {
    while (at < lines.length && lines[at]!.text === '') at++;
  };

  /** `|` / `|-`: the lines indented deeper than `parent`, their common indent removed. */
  function blockScalar(parent: number, chomp: boolean): string {
    const body: string[] = [];
    let indent = -1;
    while (at < lines.length) {
      const line = lines[at]!;
      if (line.raw.trim() !== '') {
        if (line.indent <= parent) break;
        if (indent < 0) indent = line.indent;
      }
      body.push(line.raw);
      at++;
    }
    while (body.length && body.at(-1)!.trim() === '') body.pop();
    const text = body.map((l) => l.slice(indent)).join('\n');
    return chomp ? text : `${text}\n`;
  }

  /** The value after `key:` or `- `: inline, a `|` block, or the block on the next lines. */
  function valueAfter(rest: string, indent: number, no: number): Yaml {
    if (rest === '|' || rest === '|-') return blockScalar(indent, rest === '|-');
    if (rest !== '') return scalar(rest, no);
    skipBlank();
    const next = lines[at];
    if (!next) return null;
    if (next.indent > indent) return block(next.indent);
    if (next.indent === indent && next.text.startsWith('- ')) return block(indent); // a list under its key
    return null;
  }

  function keyValue(text: string, no: number): [string, string] | null {
    const m = /^("[^"]*"|'[^']*'|[^\s'"][^:]*?):(?:\s+(.*))?$/.exec(text);
    if (!m) return null;
    const key = m[1]!.startsWith('"') || m[1]!.startsWith("'") ? (scalar(m[1]!, no) as string) : m[1]!;
    return [key, m[2] ?? ''];
  }

  function block(indent: number): Yaml {
    skipBlank();
    const first = lines[at]!;
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      for (skipBlank(); at < lines.length && lines[at]!.indent === indent && (lines[at]!.text === '-' || lines[at]!.text.startsWith('- ')); skipBlank()) {
        const line = lines[at]!;
        const rest = line.text.slice(1).trimStart();
        const inner = indent + (line.raw.trimStart().length - line.raw.trimStart().slice(1).trimStart().length);
        const pair = rest.startsWith('"') || rest.startsWith("'") || rest.startsWith('[') ? null : keyValue(rest, line.no);
        if (pair) {
          // `- key: value` starts a map whose other keys sit at the key's column.
          lines[at] = { ...line, indent: inner, text: rest };
          list.push(block(inner));
        } else {
          at++;
          list.push(valueAfter(rest, indent, line.no));
        }
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    for (skipBlank(); at < lines.length && lines[at]!.indent === indent; skipBlank()) {
      const line = lines[at]!;
      if (line.text.startsWith('- ')) break;
      const pair = keyValue(line.text, line.no);
      if (!pair) throw new Error(`yaml: line ${line.no}: expected "key: value", got ${JSON.stringify(line.text)}`);
      if (pair[0] in map) throw new Error(`yaml: line ${line.no}: duplicate key ${pair[0]}`);
      at++;
      map[pair[0]] = valueAfter(pair[1], indent, line.no);
    }
    return map;
  }

  skipBlank();
  if (at >= lines.length) return null;
  const doc = block(lines[at]!.indent);
  skipBlank();
  if (at < lines.length) throw new Error(`yaml: line ${lines[at]!.no}: unexpected indentation`);
  return doc;
}
