// Behaviour metrics an exercise defines (messages, bytes, rounds, latency), for `dlab compare`.
import { appendFileSync } from 'node:fs';
import { runConfig, type RunConfig } from './run-config.ts';

export interface Metric {
  /** What is measured, in words a learner reads in a table: "messages sent per operation". */
  readonly name: string;
  readonly value: number;
  /** `msgs`, `bytes`, `ms`, `rounds`, `entries`, ... */
  readonly unit: string;
  /** Which direction is better, so the comparison can say so. */
  readonly better: 'lower' | 'higher';
}

/**
 * Records a metric when `dlab compare` asked for them; otherwise does nothing (and costs nothing).
 * Several samples with the same name in one run are averaged.
 */
export function recordMetric(m: Metric, cfg: RunConfig = runConfig()): void {
  if (cfg.metricsOut === undefined) return;
  appendFileSync(cfg.metricsOut, JSON.stringify(m) + '\n');
}

/** True when metrics are being collected, so a test can skip work that only feeds them. */
export function metricsWanted(cfg: RunConfig = runConfig()): boolean {
  return cfg.metricsOut !== undefined;
}

/** Reads a metrics file: one averaged figure per name, in first-seen order. */
export function readMetrics(text: string): Metric[] {
  const byName = new Map<string, { m: Metric; sum: number; n: number }>();
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    const m = JSON.parse(raw) as Metric;
    const acc = byName.get(m.name);
    if (acc === undefined) byName.set(m.name, { m, sum: m.value, n: 1 });
    else {
      acc.sum += m.value;
      acc.n++;
    }
  }
  return [...byName.values()].map(({ m, sum, n }) => ({ ...m, value: sum / n }));
}
