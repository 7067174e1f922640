// Leak checks for socket tests: open TCP/TLS handles in this process, and waiting for counters to settle.
import { mark, patientElapsedMs, patientTimeout } from '../patience.ts';
import { PropertyFailure } from '../report.ts';

/** How many TCP servers, TCP sockets and TLS wraps this process holds open right now. */
export function netHandleCount(): number {
  return process.getActiveResourcesInfo().filter((r) => /^(TCPServerWrap|TCPSocketWrap|TCPWrap|TLSWrap)$/.test(r)).length;
}

/** Polls `cond` every 10 ms until it holds or `ms` pass (patient time: see patience.ts); returns whether it held. */
export async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const start = mark();
  for (;;) {
    if (cond()) return true;
    if (patientElapsedMs(start) >= ms) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * For afterAll: fails unless the process is back to at most `baseline` TCP/TLS handles within `ms`.
 * Every server and socket an exercise opens must be closed by its close().
 */
export async function expectNoNetLeaks(baseline: number, what: string, ms = 1500): Promise<void> {
  if (await waitFor(() => netHandleCount() <= baseline, ms)) return;
  const extra = netHandleCount() - baseline;
  const kinds = process.getActiveResourcesInfo().filter((r) => /TCP|TLS/.test(r));
  throw new PropertyFailure(
    `Property violated: every server and socket is closed once the tests have closed everything (${what})\n` +
      `Why: ${extra} TCP/TLS handle${extra === 1 ? '' : 's'} still open ${ms} ms after every close() resolved (${kinds.join(', ')}). ` +
      'A server that was never closed, a keep-alive agent that was never destroyed, or a socket that nobody ended.',
    { property: `no open sockets after close (${what})` },
  );
}

/**
 * The leak check of one hidden-test file. Call start() in beforeAll, check() in the file's last test
 * (a leak then fails a named test), and final() in afterAll: it asserts again only if check() did not
 * already report a leak, so that the process is never left with open handles unnoticed.
 */
export function leakGuard(what: string): { start(): void; check(): Promise<void>; final(): Promise<void> } {
  let baseline = 0;
  let reported = false;
  return {
    start() {
      baseline = netHandleCount();
    },
    async check() {
      try {
        await expectNoNetLeaks(baseline, what);
      } catch (e) {
        reported = true;
        throw e;
      }
    },
    async final() {
      if (!reported) await expectNoNetLeaks(baseline, what);
    },
  };
}

/** Resolves with the promise's value, or rejects with `message` after `ms` of patient time (the timer is always cleared). */
export async function within<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let cancel: (() => void) | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (cancel = patientTimeout(ms, () => reject(new Error(message)))))]);
  } finally {
    cancel?.();
  }
}

/** How a promise ended within a wait: its value, its rejection, or still pending (`hung`). */
export type Settled<T> = { readonly kind: 'value'; readonly value: T } | { readonly kind: 'rejected'; readonly error: unknown } | { readonly kind: 'hung' };

/**
 * Waits up to `ms` of patient time for `p` and says how it ended, without throwing: for tests that check that
 * everything an API returns settles, and name the call that did not.
 */
export async function settleWithin<T>(p: Promise<T>, ms: number): Promise<Settled<T>> {
  const HUNG = Symbol('hung');
  const r = await within(
    p.then(
      (value): Settled<T> => ({ kind: 'value', value }),
      (error: unknown): Settled<T> => ({ kind: 'rejected', error }),
    ),
    ms,
    'hung',
  ).catch(() => HUNG);
  return r === HUNG ? { kind: 'hung' } : (r as Settled<T>);
}
