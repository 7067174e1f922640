// The node model every simulation exercise is written against: Proc (what a learner implements) and Ctx.

/** A node's (or a client's) name, as it appears in traces and diagrams. */
export type NodeId = string;

/** A handle from `ctx.setTimer`, for `ctx.cancelTimer`. */
export type TimerId = number;

/** How a node instance came to life: `recovered` is true after a restart (only the disk survived). */
export interface Boot {
  readonly recovered: boolean;
}

/** An operation a client asks a node to perform (sent to `onRequest`), and what the history records. */
export interface Op {
  /** The operation's function: `read`, `write`, `put`, or an exercise's own. */
  readonly f: string;
  /** The argument. */
  readonly value?: unknown;
  /** The key, for per-key checking. */
  readonly key?: string;
}

/**
 * How an operation ended. `ok`: it took effect (value = the result). `fail`: it certainly did not.
 * `info`: unknown (a time-out, a lost reply): it may or may not have taken effect.
 */
export type Completion =
  | { readonly type: 'ok'; readonly value?: unknown }
  | { readonly type: 'fail'; readonly value?: unknown }
  | { readonly type: 'info'; readonly value?: unknown };

/** The answer to `ctx.rpc`: a value, never a thrown error. */
export type RpcResult<M> = { readonly ok: true; readonly value: M } | { readonly ok: false; readonly reason: 'timeout' };

/**
 * A process: what a learner implements. The simulator builds a new instance on every boot (volatile
 * fields are gone after a crash), calls `init` once, then one handler per event. A handler may be async;
 * its promise is awaited by nobody, but an error it throws (or rejects with) fails the run.
 */
export interface Proc<M = unknown, Req = Op, Res = Completion> {
  init(ctx: Ctx<M>, boot: Boot): void | Promise<void>;
  /** A message from a peer. `reply` is present when the peer used `ctx.rpc`: it sends the answer back. */
  onMessage(from: NodeId, msg: M, reply?: (res: M) => void): void | Promise<void>;
  /** A timer set with `ctx.setTimer(ms, tag)` fired. */
  onTimer?(tag: string): void | Promise<void>;
  /** A request from a harness client. The reply travels back over the network, so it can be lost. */
  onRequest?(req: Req, reply: (res: Res) => void): void | Promise<void>;
}

/** What a node can do. Everything here is simulated and deterministic; only `disk` survives a crash. */
export interface Ctx<M = unknown> {
  readonly id: NodeId;
  /** The other nodes (never clients), in a fixed order. */
  readonly peers: readonly NodeId[];
  /** Sends one message; the network may drop, delay, duplicate or reorder it. */
  send(to: NodeId, msg: M): void;
  /** Calls `onTimer(tag)` after `ms` on this node's monotonic clock. Timers die with the instance. */
  setTimer(ms: number, tag: string): TimerId;
  cancelTimer(t: TimerId): void;
  /** The monotonic clock: never jumps, runs at rate 1 + drift, starts from an arbitrary value at each boot. */
  monoNow(): number;
  /** The wall clock (ms since 1970): offset, drift and steps apply, so it can jump, even backwards. */
  wallNow(): number;
  /** A float in [0, 1) from this node's own seeded stream. */
  rand(): number;
  readonly disk: Disk;
  /** Records an event the exercise asks for (for example `{ type: 'apply', index }`); checkers read them. */
  trace(ev: Readonly<Record<string, unknown>>): void;
  /** Sends `msg` and waits for the receiver's `reply`, or for `timeoutMs` on the monotonic clock. */
  rpc(to: NodeId, msg: M, opts: { readonly timeoutMs: number }): Promise<RpcResult<M>>;
  /** Resolves after `ms` on the monotonic clock (never, if the node crashes first). */
  sleep(ms: number): Promise<void>;
}

/**
 * A node's durable storage. Reads see every write at once; a crash keeps only what was fsync'd.
 * `rename` and `delete` are atomic and durable at once (the directory is journaled), but a renamed file
 * carries only its own fsync'd bytes across a crash.
 */
export interface Disk {
  read(file: string): Uint8Array | undefined;
  /** Replaces the whole file. */
  write(file: string, bytes: Uint8Array): void;
  append(file: string, bytes: Uint8Array): void;
  /** Makes the file's current bytes durable. Slow under the SD fault. */
  fsync(file: string): void;
  rename(from: string, to: string): void;
  delete(file: string): void;
  /** File names, sorted. */
  list(): string[];
}

/** One `ctx.trace` call, as checkers read it. */
export interface Annotation {
  readonly time: number;
  readonly node: NodeId;
  readonly event: Readonly<Record<string, unknown>>;
}
