// Wall-clock waits that a busy machine does not shorten: time the process spent waiting for a CPU (its
// run-queue delay, which Linux reports in /proc/self/schedstat) is not counted. Real-socket tests need wall
// time (the lesson is about real timeouts), but a verdict must not change because other processes took
// the cores: a correct server that was simply not scheduled gets the time back; a hung one (idle, never
// waiting for a CPU) is still stopped on time. Where schedstat is missing, this is plain wall time.
import { runDelayMs } from './schedstat.mjs';

/** A point in time to measure patient elapsed time from. */
export interface Mark {
  readonly wallMs: number;
  readonly runDelayMs: number;
}

export function mark(): Mark {
  return { wallMs: performance.now(), runDelayMs: runDelayMs() };
}

/** Wall time since `m`, less the time this process spent runnable but not running. */
export function patientElapsedMs(m: Mark): number {
  return performance.now() - m.wallMs - (runDelayMs() - m.runDelayMs);
}

/** Calls `fn` once `ms` of patient time have passed; returns a cancel function. */
export function patientTimeout(ms: number, fn: () => void): () => void {
  const start = mark();
  let timer: NodeJS.Timeout | undefined;
  let cancelled = false;
  const check = () => {
    if (cancelled) return;
    const left = ms - patientElapsedMs(start);
    if (left <= 0) fn();
    else timer = setTimeout(check, Math.max(1, left));
  };
  timer = setTimeout(check, ms);
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

/** Resolves after `ms` of patient time. */
export function patientSleep(ms: number): Promise<void> {
  return new Promise((resolve) => patientTimeout(ms, resolve));
}
