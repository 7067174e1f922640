// A small HTTP(S) client for tests and demos: one call, a deadline on every connection, the whole reply.
import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { SecureVersion, TLSSocket } from 'node:tls';
import { patientTimeout } from '../patience.ts';

/** How to reach an HTTPS server. The CA is always given: verification is never switched off. */
export interface TlsClientOptions {
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly minVersion?: SecureVersion;
  readonly maxVersion?: SecureVersion;
}

export interface HttpCall {
  readonly port: number;
  readonly method?: string;
  /** The request target, `/path?query`. */
  readonly path?: string;
  /** Headers as an object, or as a flat `[name, value, name, value, ...]` list (repeats allowed). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>> | readonly string[];
  /** A list is written chunk by chunk (chunked encoding unless a content-length header is given). */
  readonly body?: Buffer | string | readonly Buffer[];
  readonly tls?: TlsClientOptions;
  /** A keep-alive agent to reuse connections; by default each call has its own connection. */
  readonly agent?: http.Agent;
  /** The whole call must finish within this time (default 3000 ms). */
  readonly timeoutMs?: number;
}

export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  /** The local port of the connection that carried the reply: equal ports, same connection. */
  readonly connection: number;
  /** For HTTPS: the serial number of the server's certificate, upper-case hex. */
  readonly peerSerial?: string;
}

/** An error from a call, with the request named in the message and Node's error code kept. */
/**
 * A call the grader made that got no proper reply. Tests that expect failures catch it; one that escapes a test
 * is reported as the property it breaks (its `dlab` facts: see the runner's error-info.mjs), not as a raw error.
 */
export class CallError extends Error {
  readonly dlab: { readonly property: string; readonly example: string; readonly why: string };
  constructor(
    /** The call, as describeCall() writes it. */
    call: string,
    /** What went wrong, in words. */
    detail: string,
    readonly code: string | undefined,
  ) {
    super(`${call}: ${detail}`);
    this.name = 'CallError';
    this.dlab = { property: callProperty(code), example: call, why: detail };
  }
}

/** The property a failed call breaks, by the error it ended with. */
export function callProperty(code: string | undefined): string {
  switch (code) {
    case 'ETIMEDOUT':
      return 'every request gets a complete reply in time';
    case 'ECONNREFUSED':
      return 'the server accepts connections on the port it says it listens on';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'a connection is never cut in the middle of a request or its reply';
    default:
      if (code !== undefined && /CERT|TLS|SSL|OSSL/.test(code)) return 'a client that trusts the course CA completes the TLS handshake';
      return 'every request gets a well-formed reply';
  }
}

export function describeCall(c: Pick<HttpCall, 'method' | 'path' | 'port' | 'tls'>): string {
  return `${c.method ?? 'GET'} ${c.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${c.port}${c.path ?? '/'}`;
}

/** A started request: the response head, a way to cut the connection, and a deadline already armed. */
export interface OpenCall {
  readonly req: ClientRequest;
  readonly response: Promise<IncomingMessage>;
  /** Cuts the connection (a client that goes away mid-request). */
  destroy(): void;
  /** Clears the deadline; call when done with the response. */
  done(): void;
}

function serialOf(socket: TLSSocket | null): string | undefined {
  try {
    const serial = socket?.getPeerCertificate?.()?.serialNumber;
    return typeof serial === 'string' ? serial.toUpperCase() : undefined;
  } catch {
    return undefined;
  }
}

/** Node adds Host by itself for object headers, but not for a raw list: HTTP/1.1 requires one. */
function withHost(h: NonNullable<HttpCall['headers']>, port: number): NonNullable<HttpCall['headers']> {
  if (!Array.isArray(h)) return h;
  const list = h as readonly string[];
  for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === 'host') return list;
  return [...list, 'host', `127.0.0.1:${port}`];
}

/** Starts a request and leaves the body to the caller (`req.write`, `req.end`). */
export function openCall(c: HttpCall): OpenCall {
  const timeoutMs = c.timeoutMs ?? 3000;
  const opts: https.RequestOptions = {
    host: '127.0.0.1',
    port: c.port,
    method: c.method ?? 'GET',
    path: c.path ?? '/',
    agent: c.agent ?? false,
    headers: withHost(c.headers ?? {}, c.port) as http.OutgoingHttpHeaders,
  };
  if (c.tls !== undefined) {
    opts.ca = c.tls.ca;
    if (c.tls.cert !== undefined) opts.cert = c.tls.cert;
    if (c.tls.key !== undefined) opts.key = c.tls.key;
    if (c.tls.minVersion !== undefined) opts.minVersion = c.tls.minVersion;
    if (c.tls.maxVersion !== undefined) opts.maxVersion = c.tls.maxVersion;
  }
  const req = c.tls !== undefined ? https.request(opts) : http.request(opts);
  const what = describeCall(c);
  const cancelTimer = patientTimeout(timeoutMs, () => req.destroy(new CallError(what, `no complete reply within ${timeoutMs} ms`, 'ETIMEDOUT')));
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', (e: NodeJS.ErrnoException) => {
      cancelTimer();
      reject(e instanceof CallError ? e : new CallError(what, `${e.code ?? 'error'} ${e.message}`, e.code));
    });
  });
  response.catch(() => undefined); // the caller may only look at it later
  return {
    req,
    response,
    destroy: () => {
      cancelTimer();
      req.destroy();
    },
    done: () => cancelTimer(),
  };
}

/** Makes one request and reads the whole reply. Rejects with a CallError on any failure or time-out. */
export async function httpCall(c: HttpCall): Promise<HttpReply> {
  const call = openCall(c);
  const { req } = call;
  const body = c.body;
  if (Array.isArray(body)) {
    for (const chunk of body as readonly Buffer[]) req.write(chunk);
    req.end();
  } else req.end(body as Buffer | string | undefined);
  try {
    const res = await call.response;
    // Read the certificate now: once the reply has ended the socket may already be gone.
    const peerSerial = c.tls !== undefined ? serialOf(res.socket as TLSSocket | null) : undefined;
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      res.on('data', (d: Buffer) => chunks.push(d));
      res.once('end', resolve);
      res.once('error', reject);
      req.once('error', reject);
      res.once('close', () => {
        if (!res.complete) reject(new CallError(describeCall(c), 'the connection closed before the reply was complete', 'ECONNRESET'));
      });
    });
    const socket = res.socket as TLSSocket | null;
    const reply: { -readonly [K in keyof HttpReply]: HttpReply[K] } = {
      status: res.statusCode ?? 0,
      headers: res.headers,
      rawHeaders: res.rawHeaders,
      body: Buffer.concat(chunks),
      connection: socket?.localPort ?? req.socket?.localPort ?? 0,
    };
    if (peerSerial !== undefined) reply.peerSerial = peerSerial;
    return reply;
  } catch (e) {
    throw e instanceof CallError ? e : new CallError(describeCall(c), (e as Error).message, (e as NodeJS.ErrnoException).code);
  } finally {
    call.done();
  }
}

/** Whether a call fails (any error: refused, reset, TLS alert, time-out) rather than getting a reply. */
export async function callFails(c: HttpCall): Promise<{ failed: true; error: CallError } | { failed: false; reply: HttpReply }> {
  try {
    return { failed: false, reply: await httpCall(c) };
  } catch (e) {
    return { failed: true, error: e as CallError };
  }
}
