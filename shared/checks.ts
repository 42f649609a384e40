/** `comfy-seal doctor`'s checks: each one a line with a verdict and, when it is not ok, the fix. */

export type Verdict = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

export type Check = () => Promise<CheckResult | CheckResult[]>;

/** Runs every check, a thrown error being that check's failure, never the end of the run. */
export async function runChecks(checks: Array<[string, Check]>): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const [name, check] of checks) {
    try {
      const r = await check();
      results.push(...(Array.isArray(r) ? r : [r]));
    } catch (error) {
      results.push({ name, verdict: 'fail', detail: error instanceof Error ? error.message : String(error) });
    }
  }
  return results;
}

export function renderChecks(results: readonly CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 4);
  return results
    .map((r) => `${r.verdict.padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}${r.fix && r.verdict !== 'ok' ? `\n      fix: ${r.fix}` : ''}`)
    .join('\n');
}

export function hasFailure(results: readonly CheckResult[]): boolean {
  return results.some((r) => r.verdict === 'fail');
}
