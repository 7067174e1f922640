// @ts-check
// The worker's watchdog thread: every 20 ms it compares the current phase's CPU time, and its patient wall
// time, with the limits worker.mjs armed in shared memory, and writes an 'over' line to the progress file
// when one is passed (the parent then kills the worker). A thread, because a `while (true) {}` on the main
// thread stops everything else there.
import { appendFileSync } from 'node:fs';
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { runDelayMs } from '../../harness/schedstat.mjs';

/** @type {{ sab: SharedArrayBuffer; port: import('node:worker_threads').MessagePort; wallFactor: number }} */
const data = workerData;
// See PHASE in worker.mjs: [0] CPU µs at the phase's start, [1] its CPU limit in µs (0: disarmed),
// [2] Date.now() at its start, [3] the main thread's run-queue delay in ms at its start.
const phase = new Float64Array(data.sab);
let file = '';

/** @param {'cpu' | 'wall'} why @param {number} used */
function over(why, used) {
  phase[1] = 0;
  appendFileSync(file, JSON.stringify({ e: 'over', why, cpuMs: Math.round(used / 1000) }) + '\n');
}

setInterval(() => {
  // The progress file's path comes through the port (strings do not fit a Float64Array).
  for (let m; (m = receiveMessageOnPort(data.port)) !== undefined; ) file = m.message;
  const limit = phase[1] ?? 0;
  if (limit <= 0 || file === '') return;
  const c = process.cpuUsage();
  const used = c.user + c.system - (phase[0] ?? 0);
  if (used > limit) return over('cpu', used);
  // Waiting (a promise that never settles) uses no CPU; patient wall time, less the time the main thread
  // spent waiting for a CPU on a busy machine, catches it without penalising a descheduled process.
  const patient = Date.now() - (phase[2] ?? 0) - (runDelayMs() - (phase[3] ?? 0));
  if (patient > (limit / 1000) * data.wallFactor) over('wall', used);
}, 20);
