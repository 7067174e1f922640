// @ts-check
// What the runner keeps of an error a test ended with (ErrorInfo), and how it reads to a learner. A failed
// property (harness/property.ts) already reads as one. An error the harness threw on the learner's behalf (a
// call the grader made that got no proper reply: CallError, with `dlab` facts) or a well-known error from Node
// or OpenSSL that the learner's code let escape is said as the property it breaks, with the raw error as the why.

/** @typedef {import('./protocol.ts').ErrorInfo} ErrorInfo */

const ANSI = /\u001b\[[0-9;]*m/g;

/** @type {Record<string, { property: string; hint: string }>} */
const KNOWN = {
  ERR_OSSL_X509_KEY_VALUES_MISMATCH: {
    property: 'a private key is only ever used with the certificate it belongs to',
    hint: 'OpenSSL refused a key that does not belong to its certificate (key values mismatch): check which key goes with which certificate, and refuse such a pair (a rejected promise) instead of letting the error escape',
  },
  EADDRINUSE: {
    property: 'a server listens on the port it is given (port 0: any free port)',
    hint: 'the port was already taken: listen on the port in the options (the grader passes 0), not on a fixed one',
  },
};

/** @param {unknown} e @returns {ErrorInfo} */
export function errorInfo(e) {
  const x = /** @type {{ message?: unknown; name?: unknown; code?: unknown; dlab?: Record<string, unknown>; diff?: unknown }} */ (e ?? {});
  let message = typeof x.message === 'string' ? x.message : String(e);
  const d = x.dlab ?? undefined;
  const known = typeof x.code === 'string' ? KNOWN[x.code] : undefined;
  if (x.name !== 'PropertyFailure' && d !== undefined && d !== null && typeof d['property'] === 'string' && typeof d['example'] === 'string' && typeof d['why'] === 'string') {
    message = [`Property violated: ${d['property']}`, `Counterexample: ${d['example']}`, `Why: ${d['why']}`].join('\n');
  } else if (known !== undefined && x.name !== 'PropertyFailure') {
    message = [`Property violated: ${known.property}`, `Why: ${known.hint}`, `(the error: ${message.split('\n')[0]})`].join('\n');
  } else {
    const plainNames = ['Error', 'AssertionError', 'PropertyFailure'];
    if (typeof x.name === 'string' && !plainNames.includes(x.name) && !message.startsWith(x.name)) message = `${x.name}: ${message}`;
    if (typeof x.diff === 'string' && x.diff.trim() !== '' && x.dlab === undefined) message += `\n\n${x.diff}`;
  }
  /** @type {{ -readonly [K in keyof ErrorInfo]: ErrorInfo[K] }} */
  const info = { message: message.replace(ANSI, '') };
  if (d !== undefined && d !== null) {
    if (typeof d['property'] === 'string') info.property = d['property'];
    if (typeof d['seed'] === 'number') info.seed = d['seed'];
    if (typeof d['path'] === 'string') info.path = d['path'];
    if (typeof d['replay'] === 'string') info.replay = d['replay'];
  } else if (known !== undefined) info.property = known.property;
  return info;
}
