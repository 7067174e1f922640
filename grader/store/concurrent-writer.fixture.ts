// A child process for the store's concurrency test: records N attempts as fast as it can.
import { ProgressStore } from './progress-store.ts';

const [path, who, n] = process.argv.slice(2);
const r = ProgressStore.open(path);
if (!r.ok) {
  process.stderr.write(r.error.message + '\n');
  process.exit(1);
}
for (let i = 0; i < Number(n); i++) {
  r.value.store.recordAttempt({ exerciseId: `x/${who}`, durationMs: i, target: 'exercises', passed: i % 7 === 0, tests: 1, files: { f: `${who}-${i}` } });
  r.value.store.setCurrent(`x/${who}`);
}
r.value.store.close();
