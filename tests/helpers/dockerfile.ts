/** A Dockerfile read into stages and instructions: enough for tests to check what a build uses exists. */
import { readFileSync } from 'node:fs';

export interface Instruction {
  keyword: string;
  /** The rest of the instruction, continuation lines joined. */
  args: string;
}

export interface Stage {
  /** The FROM image (a stage name, `${ARG}` or an image reference). */
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs before the first FROM (usable in FROM lines), with their defaults. */
  globalArgs: Map<string, string | undefined>;
  stages: Stage[];
  /** Every ARG name declared anywhere. */
  args: Set<string>;
}

export function readDockerfile(file: string): Dockerfile {
  const lines = readFileSync(file, 'utf8').split('\n');
  const instructions: Instruction[] = [];
  let current = '';
  for (const line of lines) {
    if (!current && (/^\s*#/.test(line) || !line.trim())) continue;
    if (current && /^\s*#/.test(line)) continue; // comments inside a continued instruction
    current += (current ? ' ' : '') + line.trim().replace(/\\$/, '').trim();
    if (line.trimEnd().endsWith('\\')) continue;
    const [keyword, ...rest] = current.split(/\s+/);
    instructions.push({ keyword: keyword!.toUpperCase(), args: rest.join(' ') });
    current = '';
  }
  const globalArgs = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  const args = new Set<string>();
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      stages.push({ from: m[1]!, name: m[2], instructions: [] });
      continue;
    }
    if (ins.keyword === 'ARG') {
      const [name, value] = ins.args.split('=', 2) as [string, string | undefined];
      args.add(name);
      if (!stages.length) globalArgs.set(name, value?.replace(/^"|"$/g, ''));
    }
    stages.at(-1)?.instructions.push(ins);
  }
  return { globalArgs, stages, args };
}
