// An API gateway: clients reach services by name, in JSON or XML, without knowing where the services run.
// A registry with heartbeats says where they are; the gateway routes, retries safely, and translates.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/04-api-gateway`.
// Try it for real: `npx dlab run 02-infrastructure-patterns/04-api-gateway`.
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
  register(svc: string, inst: Instance, ttlMs: number, now: number): void {
    // TODO: remember the instance with its ttl and `now` as the time it was last seen.
    throw new Error(`TODO: implement Registry.register(${svc}, ${inst.id}, ${ttlMs}, ${now})`);
  }

  /** Extends a live instance's lease and returns true; returns false (and changes nothing) otherwise. */
  heartbeat(svc: string, id: string, now: number): boolean {
    // TODO: only a live instance gets a longer lease.
    throw new Error(`TODO: implement Registry.heartbeat(${svc}, ${id}, ${now})`);
  }

  deregister(svc: string, id: string): void {
    // TODO
    throw new Error(`TODO: implement Registry.deregister(${svc}, ${id})`);
  }

  /** The instances of `svc` live at `now`. */
  live(svc: string, now: number): Instance[] {
    // TODO: live means now < last seen + ttl.
    throw new Error(`TODO: implement Registry.live(${svc}, ${now})`);
  }
}

// ---------------------------------------------------------------------------------------------------
// JSON <-> XML, by the canonical mapping of the lesson

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The canonical XML form of a JSON document: a <doc> element (see the lesson's table). */
export function jsonToXml(value: Json): XmlElement {
  // TODO: build elements with xmlElement(name, attrs, textOrChildren); arrays hold <item> children.
  void xmlElement; // (imported for you; delete this line once you use it)
  throw new Error(`TODO: implement jsonToXml(${JSON.stringify(value)})`);
}

/** The JSON document an XML element in canonical form stands for. Throws on anything else. */
export function xmlToJson(el: XmlElement): Json {
  // TODO: let the type attribute decide, never the number of children.
  throw new Error(`TODO: implement xmlToJson(<${el.name}>)`);
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

/** The format an Accept header asks for: whichever of json and xml it names first; JSON if neither. */
export function wantedFormat(accept: string): Format {
  const j = accept.search(/\bjson\b/i);
  const x = accept.search(/\bxml\b/i);
  return x >= 0 && (j < 0 || x < j) ? 'xml' : 'json';
}

/** The translator for a service that speaks `format`. Bodies that are empty or in neither format pass untouched. */
export function translatorFor(format: Format): Translator {
  // TODO: parse with JSON.parse or parseXml + xmlToJson, write with JSON.stringify or jsonToXml + serializeXml.
  void [parseXml, serializeXml]; // (imported for you; delete this line once you use them)
  throw new Error(`TODO: implement translatorFor('${format}')`);
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
  // TODO: http.createServer on 127.0.0.1:o.port; an http.Agent of your own for instance requests (destroy
  //       it in close()); a deadline on every attempt that also closes the attempt's connection.
  throw new Error(`TODO: implement startGateway (${Object.keys(o.translators).join(', ')})`);
}
