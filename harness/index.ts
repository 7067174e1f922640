// The harness core as every hidden test and exercise sees it: `import { ... } from '@dlab/harness'`.
// Each area has its own entry, so a test loads only what it uses (module loading dominates a check's time):
// `@dlab/harness/sim` (the simulator), `@dlab/harness/net` (real sockets), `@dlab/harness/lincheck` (histories).
export { checkAsyncProperty, checkProperty, holds, violated, type AsyncPropertyOptions, type PropertyOptions } from './property.ts';
export { PropertyFailure, writeReplayOut, type FailureFacts } from './report.ts';
export { runConfig, replayCommand, seedFor, isReplayOf, SEED_STRIDE, type RunConfig } from './run-config.ts';
export type { History, HistoryEvent, OpType } from './history/types.ts';
export { recordMetric, metricsWanted, readMetrics, type Metric } from './metrics.ts';
export { mark, patientElapsedMs, patientSleep, patientTimeout, type Mark } from './patience.ts';
