// An API gateway: clients reach services by name, in JSON or XML, without knowing where the services run.
// A registry with heartbeats says where they are; the gateway routes, retries safely, and translates.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/04-api-gateway`.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseXml, serializeXml, xmlElement, type XmlElement } from '@dlab/harness/net';

// ---------------------------------------------------------------------------------------------------
// The registry

/** One running copy of a service: an id unique within the service, and its base URL. */
export interface Instance {
  readonly id: string;
  readonly url: string;
}

/** What the gateway needs from a registry: the live instances of a service. */
export interface ServiceRegistry {
  live(svc: string, now: number): Instance[];
}

/**
 * Where each service's instances are. An instance is live from register() until `ttlMs` after its last
 * register() or heartbeat(); then it has expired, and only a new register() brings it back.
 * Times are milliseconds on one clock (the gateway uses Date.now()).
 */
export class Registry implements ServiceRegistry {
  private readonly services = new Map<string, Map<string, { inst: Instance; ttlMs: number; lastSeen: number }>>();

  register(svc: string, inst: Instance, ttlMs: number, now: number): void {
    let m = this.services.get(svc);
    if (m === undefined) this.services.set(svc, (m = new Map()));
    m.set(inst.id, { inst: { id: inst.id, url: inst.url }, ttlMs, lastSeen: now });
  }

  /** Extends a live instance's lease and returns true; returns false (and changes nothing) otherwise. */
  heartbeat(svc: string, id: string, now: number): boolean {
    const e = this.services.get(svc)?.get(id);
    // An expired instance may have been replaced, moved or restarted: it must register again, with its URL.
    if (e === undefined || now >= e.lastSeen + e.ttlMs) return false;
    e.lastSeen = now;
    return true;
  }

  deregister(svc: string, id: string): void {
    this.services.get(svc)?.delete(id);
  }

  /** The instances of `svc` live at `now`. */
  live(svc: string, now: number): Instance[] {
    const m = this.services.get(svc);
    if (m === undefined) return [];
    const out: Instance[] = [];
    for (const [id, e] of m) {
      // Expiry is what makes the registry tell the truth about crashed instances: they never say goodbye.
      if (now < e.lastSeen + e.ttlMs) out.push(e.inst);
      else m.delete(id);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------
// JSON <-> XML, by the canonical mapping of the lesson

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function toElement(name: string, v: Json): XmlElement {
  if (v === null) return xmlElement(name, { type: 'null' });
  if (typeof v === 'string') return xmlElement(name, {}, v);
  if (typeof v === 'number') return xmlElement(name, { type: 'number' }, String(v));
  if (typeof v === 'boolean') return xmlElement(name, { type: 'boolean' }, String(v));
  // An array says so, whatever its length: a one-element array must not look like a single value.
  if (Array.isArray(v)) return xmlElement(name, { type: 'array' }, v.map((x) => toElement('item', x)));
  return xmlElement(name, { type: 'object' }, Object.entries(v).map(([k, x]) => toElement(k, x)));
}

/** The canonical XML form of a JSON document: a <doc> element. */
export function jsonToXml(value: Json): XmlElement {
  return toElement('doc', value);
}

/** The JSON document an XML element in canonical form stands for. Throws on anything else. */
export function xmlToJson(el: XmlElement): Json {
  const type = el.attrs['type'];
  switch (type) {
    case undefined:
      if (el.children.length > 0) throw new Error(`<${el.name}> has child elements but no type="object" or type="array"`);
      return el.text;
    case 'null':
      return null;
    case 'number': {
      const n = Number(el.text);
      if (el.text.trim() === '' || !Number.isFinite(n)) throw new Error(`<${el.name} type="number"> holds ${JSON.stringify(el.text)}`);
      return n;
    }
    case 'boolean':
      if (el.text !== 'true' && el.text !== 'false') throw new Error(`<${el.name} type="boolean"> holds ${JSON.stringify(el.text)}`);
      return el.text === 'true';
    case 'array':
      // The type decides, never the count: zero, one or many <item>s are all an array.
      return el.children.map((c) => xmlToJson(c));
    case 'object': {
      const out: { [key: string]: Json } = {};
      for (const c of el.children) {
        if (Object.hasOwn(out, c.name)) throw new Error(`<${el.name}> has two <${c.name}> children`);
        out[c.name] = xmlToJson(c);
      }
      return out;
    }
    default:
      throw new Error(`<${el.name}> has an unknown type="${type}"`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Translators

export type Format = 'json' | 'xml';

/** How the gateway adapts bodies between a client and one service (an adapter, in Burns's terms). */
export interface Translator {
  /** The format the service speaks. */
  readonly format: Format;
  /** A client's request body (of `contentType`) in the service's format. */
  toUpstream(body: Buffer, contentType: string): { body: Buffer; contentType: string };
  /** The service's response body (of `contentType`) in the format the client's Accept header asks for. */
  fromUpstream(body: Buffer, contentType: string, accept: string): { body: Buffer; contentType: string };
}

export const JSON_TYPE = 'application/json; charset=utf-8';
export const XML_TYPE = 'application/xml; charset=utf-8';

/** The format a content type names, or undefined for anything else. */
function formatOf(contentType: string): Format | undefined {
  return /\bjson\b/i.test(contentType) ? 'json' : /\bxml\b/i.test(contentType) ? 'xml' : undefined;
}

/** The format an Accept header asks for: whichever of json and xml it names first; JSON if neither. */
export function wantedFormat(accept: string): Format {
  const j = accept.search(/\bjson\b/i);
  const x = accept.search(/\bxml\b/i);
  return x >= 0 && (j < 0 || x < j) ? 'xml' : 'json';
}

function convert(body: Buffer, from: Format, to: Format): { body: Buffer; contentType: string } {
  if (from === to) return { body, contentType: to === 'json' ? JSON_TYPE : XML_TYPE };
  const doc: Json = from === 'json' ? (JSON.parse(body.toString('utf8')) as Json) : xmlToJson(parseXml(body.toString('utf8')));
  return to === 'json' ? { body: Buffer.from(JSON.stringify(doc)), contentType: JSON_TYPE } : { body: Buffer.from(serializeXml(jsonToXml(doc), { declaration: true })), contentType: XML_TYPE };
}

export function translatorFor(format: Format): Translator {
  return {
    format,
    toUpstream(body, contentType) {
      const from = formatOf(contentType);
      // Bodies in other formats (or none) pass untouched: the gateway translates only what it understands.
      if (from === undefined || body.length === 0) return { body, contentType };
      return convert(body, from, format);
    },
    fromUpstream(body, contentType, accept) {
      const from = formatOf(contentType);
      if (from === undefined || body.length === 0) return { body, contentType };
      return convert(body, from, wantedFormat(accept));
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The gateway

export interface GatewayOptions {
  /** The port to listen on, on 127.0.0.1 (0: any free port). */
  readonly port: number;
  /** Where the instances are: a Registry, or anything else that can list live instances. */
  readonly registry: ServiceRegistry;
  /** The services the gateway exposes, by name, each with the translator for its format. */
  readonly translators: Readonly<Record<string, Translator>>;
  /** How long an instance that failed is skipped, in ms (default 5000; 0: never skipped). */
  readonly ejectMs?: number;
  /** How long one attempt waits for an instance's complete answer, in ms (default 2000). */
  readonly upstreamTimeoutMs?: number;
}

export interface Gateway {
  readonly port: number;
  close(): Promise<void>;
}

/** A request goes to at most this many instances (the first try and two retries), each a different one. */
export const MAX_ATTEMPTS = 3;
/** Retries in flight at once may not exceed this percentage of the requests in progress... */
export const RETRY_BUDGET_PERCENT = 20;
/** ...or this many, whichever is larger. */
export const MIN_RETRY_CONCURRENCY = 3;

/** Methods that may be sent twice without a second effect (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const MAX_BODY = 1 << 20;
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length', 'content-type', 'accept']);

interface Upstream {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
}

/** Why an attempt failed, and whether the request may have reached the instance. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly sent: boolean,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

/**
 * Starts the gateway on 127.0.0.1:
 *
 * - `/svc/<name>/<rest>` goes to a live instance of <name> as `/<rest>` (query kept); a name not in
 *   `translators` is a 404, a name with no live instance a 503.
 * - Spread requests over the live instances (round robin, or least outstanding with a rotating tie-break).
 * - An instance that refuses, resets, times out or answers 5xx is skipped for `ejectMs` (unless every live
 *   instance is skipped: then all are tried).
 * - An idempotent method (GET, HEAD, PUT, DELETE, OPTIONS) that failed is retried on the next instance, up to
 *   MAX_ATTEMPTS in all; any other method only if it never left (connection refused). A retry is sent only
 *   while the retries in flight are fewer than max(MIN_RETRY_CONCURRENCY, floor(RETRY_BUDGET_PERCENT% of the
 *   requests in progress)); "in progress" means received by the gateway and not yet answered.
 * - When no answer came: 504 if the last attempt timed out, 502 otherwise; a 5xx answer is passed on.
 * - Bodies are translated with the service's translator, both ways; the service always gets its format.
 */
export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const ejectMs = o.ejectMs ?? 5_000;
  const timeoutMs = o.upstreamTimeoutMs ?? 2_000;
  const agent = new http.Agent({ keepAlive: true });
  const ejected = new Map<string, number>(); // `${svc}/${id}` -> skipped while Date.now() < this
  const next = new Map<string, number>(); // round-robin position per service
  let inProgress = 0; // client requests received and not yet answered
  let retriesInFlight = 0; // attempts after a request's first one, not yet finished

  const attempt = (inst: Instance, method: string, path: string, headers: Record<string, string>, body: Buffer) =>
    new Promise<Upstream>((resolve, reject) => {
      const url = new URL(path, inst.url);
      const req = http.request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers: { ...headers, 'content-length': String(body.length) }, agent });
      // Connected means the request may be on its way: from then on a failure is ambiguous.
      let sent = false;
      let timedOut = false;
      req.on('socket', (s) => (s.connecting ? s.once('connect', () => (sent = true)) : (sent = true)));
      // One deadline for the whole attempt. Destroying the request also closes its socket: an instance that
      // accepted and never answers must not keep a connection of ours forever.
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 502, contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(new AttemptError(e.message, true, timedOut));
        });
      });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(new AttemptError(e.message, sent, timedOut));
      });
      req.end(body);
    });

  const reply = (res: ServerResponse, status: number, body: Buffer | string, contentType: string) => {
    res.writeHead(status, { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const accept = req.headers.accept ?? '';
    const fail = (status: number, message: string) =>
      wantedFormat(accept) === 'xml' ? reply(res, status, serializeXml(jsonToXml({ error: message })), XML_TYPE) : reply(res, status, JSON.stringify({ error: message }), JSON_TYPE);
    const m = /^\/svc\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(req.url ?? '/');
    if (m === null) return fail(404, 'no such route: use /svc/<service>/<path>');
    const svc = decodeURIComponent(m[1]!);
    const translator = Object.hasOwn(o.translators, svc) ? o.translators[svc] : undefined;
    if (translator === undefined) return fail(404, `no service named ${svc}`);
    const path = (m[2] ?? '/') + (m[3] ?? '');
    const method = req.method ?? 'GET';

    let up: { body: Buffer; contentType: string };
    try {
      up = translator.toUpstream(body, req.headers['content-type'] ?? '');
    } catch (e) {
      return fail(400, `the request body could not be read: ${(e as Error).message}`);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k) && typeof v === 'string') headers[k] = v;
    if (up.body.length > 0) headers['content-type'] = up.contentType;
    // The service is asked in its own format; the client's wish is served by translating the answer.
    headers['accept'] = translator.format === 'json' ? 'application/json' : 'application/xml';

    const now = Date.now();
    const live = o.registry.live(svc, now);
    if (live.length === 0) return fail(503, `no live instance of ${svc}`);
    // Skip ejected instances, unless every one is ejected: then trying beats refusing (Envoy's "panic mode").
    const healthy = live.filter((i) => (ejected.get(`${svc}/${i.id}`) ?? 0) <= now);
    const pool = healthy.length > 0 ? healthy : live;
    const start = next.get(svc) ?? 0;
    next.set(svc, start + 1);
    // Distinct instances, in round-robin order, at most MAX_ATTEMPTS of them.
    const order = pool.map((_, k) => pool[(start + k) % pool.length]!).slice(0, MAX_ATTEMPTS);

    let last = 'no attempt';
    let answer: Upstream | undefined;
    let status = 502;
    for (const [k, inst] of order.entries()) {
      const retry = k > 0;
      if (retry) {
        // The retry budget: retries in flight stay within 20% of the requests in progress (at least 3 may
        // always run). During an outage every request fails and wants a retry; without a budget the
        // gateway would multiply the load on a service that is already failing.
        const budget = Math.max(MIN_RETRY_CONCURRENCY, Math.floor((inProgress * RETRY_BUDGET_PERCENT) / 100));
        if (retriesInFlight >= budget) {
          last += '; no retry: the retry budget is spent';
          break;
        }
        retriesInFlight++;
      }
      try {
        const a = await attempt(inst, method, path, headers, up.body);
        if (a.status < 500) {
          answer = a;
          break;
        }
        ejected.set(`${svc}/${inst.id}`, Date.now() + ejectMs);
        answer = a;
        last = `${inst.id} answered ${a.status}`;
        // A 5xx to a POST may still have had its effect: never send it again elsewhere.
        if (!IDEMPOTENT.has(method)) break;
      } catch (e) {
        const err = e as AttemptError;
        ejected.set(`${svc}/${inst.id}`, Date.now() + ejectMs);
        answer = undefined;
        status = err.timedOut ? 504 : 502;
        last = `${inst.id}: ${err.message}`;
        // Retrying is safe for idempotent methods, or when the request never left (connection refused).
        if (!IDEMPOTENT.has(method) && err.sent) break;
      } finally {
        if (retry) retriesInFlight--;
      }
    }
    if (answer === undefined) return fail(status, `no instance of ${svc} answered (${last})`);
    let out: { body: Buffer; contentType: string };
    try {
      out = translator.fromUpstream(answer.body, answer.contentType, accept);
    } catch (e) {
      return fail(502, `the answer of ${svc} could not be translated: ${(e as Error).message}`);
    }
    reply(res, answer.status, out.body, out.contentType);
  };

  const server = http.createServer((req, res) => {
    inProgress++;
    res.once('close', () => inProgress--);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_BODY) chunks.push(d);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return reply(res, 413, JSON.stringify({ error: 'body too large' }), JSON_TYPE);
      handle(req, res, Buffer.concat(chunks)).catch((e: Error) => {
        if (!res.headersSent) reply(res, 500, JSON.stringify({ error: e.message }), JSON_TYPE);
        else res.destroy();
      });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
}
