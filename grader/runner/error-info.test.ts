// Errors that escape a test read as the property they break (issue 13), not as raw errors.
import { describe, expect, it } from 'vitest';
import { CallError } from '../../harness/net/http-client.ts';
import { PropertyFailure } from '../../harness/report.ts';
import { errorInfo } from './error-info.mjs';

describe('errorInfo', () => {
  it('says a call the grader made that got no reply as the property it breaks, with the call as the counterexample', () => {
    const timedOut = errorInfo(new CallError('GET https://127.0.0.1:4321/scan?prefix=k', 'no complete reply within 3000 ms', 'ETIMEDOUT'));
    expect(timedOut.message).toBe(
      ['Property violated: every request gets a complete reply in time', 'Counterexample: GET https://127.0.0.1:4321/scan?prefix=k', 'Why: no complete reply within 3000 ms'].join('\n'),
    );
    expect(timedOut.property).toBe('every request gets a complete reply in time');
    expect(errorInfo(new CallError('GET http://127.0.0.1:1/', 'ECONNREFUSED connect ECONNREFUSED', 'ECONNREFUSED')).message).toMatch(/^Property violated: the server accepts connections on the port/);
    expect(errorInfo(new CallError('GET https://127.0.0.1:1/', 'ERR_TLS_CERT_ALTNAME_INVALID bad name', 'ERR_TLS_CERT_ALTNAME_INVALID')).message).toMatch(/^Property violated: a client that trusts the course CA completes the TLS handshake/);
  });

  it("explains OpenSSL's key mismatch and a taken port, and keeps the raw error's first line", () => {
    const e = Object.assign(new Error('error:05800074:x509 certificate routines::key values mismatch'), { code: 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' });
    const info = errorInfo(e);
    expect(info.message.split('\n')[0]).toBe('Property violated: a private key is only ever used with the certificate it belongs to');
    expect(info.message).toContain('(the error: error:05800074:x509 certificate routines::key values mismatch)');
    expect(info.property).toBe('a private key is only ever used with the certificate it belongs to');
    const port = Object.assign(new Error('listen EADDRINUSE: address already in use :::8443'), { code: 'EADDRINUSE' });
    expect(errorInfo(port).message).toMatch(/^Property violated: a server listens on the port it is given/);
  });

  it('leaves a failed property and any other error as they are', () => {
    const p = new PropertyFailure('Property violated: x\nCounterexample: y\nWhy: z', { property: 'x' });
    expect(errorInfo(p)).toEqual({ message: 'Property violated: x\nCounterexample: y\nWhy: z', property: 'x' });
    expect(errorInfo(new TypeError('a is not a function')).message).toBe('TypeError: a is not a function');
  });
});
