/** doctor's MODELS check: every entry present and verified, without downloading anything. */
import type { Check, CheckResult } from '../../shared/checks.js';
import { parseModels } from './spec.js';
import { verifyModels } from './sync.js';

export function modelChecks(env: NodeJS.ProcessEnv, modelsDir: string): Array<[string, Check]> {
  return [
    [
      'models',
      async (): Promise<CheckResult[]> => {
        const entries = parseModels(env.MODELS);
        if (entries.length === 0) return [{ name: 'models', verdict: 'ok', detail: 'MODELS is empty' }];
        const verified = await verifyModels(entries, modelsDir);
        return verified.map((v) => ({
          name: `model ${v.entry.targetDir}/${v.entry.name}`,
          verdict: v.ok ? 'ok' : env.MODELS_OPTIONAL === '1' ? 'warn' : 'fail',
          detail: v.reason,
          ...(v.ok ? {} : { fix: 'run comfy-seal models sync (start.sh does), or check MODELS' }),
        }));
      },
    ],
  ];
}
