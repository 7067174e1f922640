// Wall-clock waits that a busy machine does not shorten: time the process spent waiting for a CPU (its
// run-queue delay, which Linux reports in /proc/self/schedstat) is not counted. Real-socket tests need wall
// time (the lesson is about real timeouts), but a verdict must not change because other processes took
// the cores: a correct server that was simply not scheduled gets the time back; a hung one (idle, never
// waiting for a CPU) is still stopped on time. Where schedstat is missing, this is plain wall time.
import { readFileSync } from 'node:fs';

/** A point in time to measure patient elapsed time from. */
export interface Mark {
  readonly wallMs: number;
  readonly runDelayMs: number;
}

let schedstat = process.platform === 'linux';

/** The main thread's total run-queue delay so far, in ms (0 where the kernel does not report it). */
function runDelayMs(): number {
  if (!schedstat) return 0;
  try {
    // "<time on cpu ns> <time waiting on a run queue ns> <timeslices>"
    const delayNs = Number(readFileSync('/proc/self/schedstat', 'latin1').split(' ')[1]);
    if (Number.isFinite(delayNs)) return delayNs / 1e6;
  } catch {
    /* not available: fall through */
  }
  schedstat = false;
  return 0;
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
