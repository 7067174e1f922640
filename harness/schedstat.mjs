// @ts-check
// How long this process's main thread has waited for a CPU: Linux reports it as the second field of
// /proc/self/schedstat (/proc/self is the thread-group leader, so a worker thread reads the main thread's).
// Plain JavaScript, so that the grader's worker and its watchdog thread load it as it is.
import { readFileSync } from 'node:fs';

let available = process.platform === 'linux';

/** The main thread's total run-queue delay so far, in ms (0 where the kernel does not report it). */
export function runDelayMs() {
  if (!available) return 0;
  try {
    // "<time on cpu ns> <time waiting on a run queue ns> <timeslices>"
    const delayNs = Number(readFileSync('/proc/self/schedstat', 'latin1').split(' ')[1]);
    if (Number.isFinite(delayNs)) return delayNs / 1e6;
  } catch {
    /* not available: fall through */
  }
  available = false;
  return 0;
}
