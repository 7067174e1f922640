// A shard router (Burns's "ambassador"): one HTTP endpoint in front of many key-value shards.
// Read the lesson first: `npx dlab lesson 02-infrastructure-patterns/02-shard-router`.
// Try it for real: `npx dlab run 02-infrastructure-patterns/02-shard-router`.
import { partitionOf } from '@dlab/harness/net';

/** Which shard owns which partition. Keys map to partitions with partitionOf; partitions never change owner silently. */
export interface ShardMap {
  /** Increases with every change; a router never goes back to an older map. */
  readonly version: number;
  readonly partitions: number;
  /** owner[p] is the base URL (`http://127.0.0.1:<port>`) of the shard that holds partition p. */
  readonly owner: readonly string[];
}

export interface RouterOptions {
  /** The port to listen on, on 127.0.0.1 (0: any free port). */
  readonly port: number;
  readonly map: ShardMap;
  /** How long a scan waits for each shard before answering without it (503, or 200 with "partial": true). */
  readonly scatterTimeoutMs: number;
  /**
   * How long a single-key request waits for a shard before the router answers 504. The grader always sets it;
   * without it, choose a default of your own (the reference: 5 s).
   */
  readonly requestTimeoutMs?: number;
}

export interface ShardRouter {
  readonly port: number;
  /** Installs a newer map; a map whose version is not higher than the current one is ignored. */
  updateMap(m: ShardMap): void;
  /** Stops listening and releases every socket the router opened, including idle connections to shards. */
  close(): Promise<void>;
}

/**
 * Starts the router on 127.0.0.1. The shards speak the API in the lesson; the router speaks the same API:
 *
 * - `GET|PUT|DELETE /kv/<key>`: send to `map.owner[partitionOf(key, map.partitions)]` (decode the key
 *   first) and pass the shard's status and body back. A shard answering 421 `{ owner, version }` has
 *   handed the partition over: repeat the request there, once; a second 421 is not followed (answer 421 or a 5xx).
 *   No answer within requestTimeoutMs: 504 (and abandon the shard request). A shard that refuses the
 *   connection or hangs up: 502. A request waiting on one shard never holds up any other request.
 * - `GET /scan?prefix=<p>`: ask every shard in the map at once, merge, sort by key, one entry per key,
 *   `{"items":[{"key","value"}, ...]}`. A shard that does not answer within scatterTimeoutMs: answer 503
 *   (or 200 with `"partial": true`), never a silent partial list.
 * - updateMap(m): take m only if m.version is higher than the current map's.
 */
export async function startShardRouter(o: RouterOptions): Promise<ShardRouter> {
  // TODO: an http.createServer on 127.0.0.1:o.port; an http.Agent of your own for shard requests (so that
  //       close() can destroy it); a deadline on every shard request.
  // TODO: route single keys with partitionOf and the map; keep the map in a variable that updateMap replaces.
  throw new Error(`TODO: implement startShardRouter (${o.map.partitions} partitions, key "a" is in partition ${partitionOf('a', o.map.partitions)})`);
}
