// The harness as exercises and hidden tests see it: `import { ... } from '@dlab/harness'`.
export { checkProperty, type PropertyOptions } from './property.ts';
export { PropertyFailure, type FailureFacts } from './report.ts';
export { runConfig, replayCommand, type RunConfig } from './run-config.ts';
export type { History, HistoryEvent, OpType } from './history/types.ts';
export { recordMetric, metricsWanted, readMetrics, type Metric } from './metrics.ts';
export * from './lincheck/index.ts';
export { pairOperations, parseEdnHistory, parseHistory, parseJepsenLog, parseInitValue, type Operation, type ParseResult } from './history/index.ts';
