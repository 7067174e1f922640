// Chooses the rows of a failure report's diagram: the events that led to the failure (its causal past), with
// repeated messages and timers collapsed, within a budget of rows.
import type { Trace, TraceEvent } from './trace.ts';
import type { NodeId } from './types.ts';

export interface CausalOptions {
  /** Rows the diagram may use, `… N events not shown` rows included (default 41: 40 events and one such row). */
  readonly budget?: number;
  /** The last events of the causal past, always shown (default 15). */
  readonly tail?: number;
  /**
   * Endpoints the failure is about, besides the one of the last event: their last events before `end` start the
   * walk too (an invariant reads every node's state, and a check after the settle window sees no event at all).
   */
  readonly nodes?: readonly NodeId[];
  /** Virtual times the failure names (`t=130 ms`): the related events at those times are shown early. */
  readonly times?: readonly number[];
  /**
   * Strings the failure quotes (`"w3"`): the messages, timers, annotations and operations carrying one (as a
   * whole string field) are shown early too, the first of each content on each link.
   */
  readonly values?: readonly string[];
}

export interface CausalView {
  /** Trace indexes to draw, ascending (DiagramOptions.indexes). */
  readonly indexes: readonly number[];
  /** Words for a `… N events not shown` row: what the skipped events were (DiagramOptions.gapNote). */
  readonly gapNote: (skipped: readonly number[]) => string;
  /** Events in the causal past, plus the drops of messages sent in it. */
  readonly past: number;
  /** Kept events before `end`. */
  readonly total: number;
}

const NOT = -1;
/** How far a payload is looked into, for the content of a message. */
const MAX_DEPTH = 4;
const MAX_LEAVES = 64;
/** A number field is a counter when it went up with (nearly) every message of at least this many of its kind on its link. */
const COUNTER_MIN = 3;
/** Client operations shown before the rest of the past is ranked. */
const RECENT_OPS = 8;

/**
 * The events of the kept trace before `end` that tell how the failure came about, and how to name the rest.
 *
 * Happens-before is walked backwards from the last event before `end` and from the last event of each of
 * `nodes`: every earlier event at the same endpoint, for a delivery its send, and so on. The drop of a
 * message sent in that past counts too (a loss explains what did not happen). Each event of that past gets a
 * depth: the number of messages between it and the failure. Kept, in this order, while the rows last:
 * 1. the last `tail` events of the past;
 * 2. every fault, crash and restart;
 * 3. the events of the past at the times the failure names (a send with its delivery or drop), the last
 *    delivery to each of `nodes` (and to the last event's node), and the events carrying a string the failure
 *    quotes (the first of each content on each link);
 * 4. messages to or from `nodes` (or the last event's node) that never got through: on each link, the first
 *    of each kind lost for each reason, after which nothing of that kind got through; and, for a loss not
 *    due to a partition, each later send of the same message with its fate;
 * 5. the last few client operations;
 * 6. nearest first (lowest depth, then latest): the other client operations and the *first* delivery, drop,
 *    timer and annotation of each distinct content in the past. Two contents are the same when they differ
 *    only in a number that counts up (a field of a kind of message that grew at every message on its link, as
 *    a heartbeat's round or a timestamp does), so repeated heartbeats show once, while the first heartbeat
 *    carrying a new generation shows;
 * 7. with rows to spare, the rest of the past, latest first; once all of it is shown, the rest.
 * Each run of skipped events costs a row too (a run of one event of the past is shown instead). Linear in the
 * kept trace (payloads are looked into to a fixed depth) apart from one sort, and deterministic: the same
 * trace gives the same rows.
 */
export function causalView(trace: Trace, end: number, opts: CausalOptions = {}): CausalView {
  const first = trace.first;
  end = Math.min(end, trace.length);
  const events = trace.events(first, end);
  const n = events.length;
  const budget = Math.max(2, opts.budget ?? 41); // the last event, and a row for those before it
  const tailSize = Math.max(1, opts.tail ?? 15);
  const at = (i: number): TraceEvent => events[i - first] as TraceEvent;

  // ---- the causal past, walked backwards ---------------------------------------------------------------
  const depth = new Int32Array(n).fill(NOT);
  const nodeDepth = new Map<NodeId, number>();
  for (const id of opts.nodes ?? []) nodeDepth.set(id, 0);
  const sendDepth = new Map<number, number>();
  for (let i = end - 1; i >= first; i--) {
    const e = at(i);
    const local = localOf(e);
    let d = i === end - 1 ? 0 : Infinity;
    if (local !== undefined) d = Math.min(d, nodeDepth.get(local) ?? Infinity);
    if (e.kind === 'send') d = Math.min(d, sendDepth.get(e.msg) ?? Infinity);
    if (d === Infinity) continue;
    depth[i - first] = d;
    if (local !== undefined) nodeDepth.set(local, d);
    if (e.kind === 'deliver') sendDepth.set(e.msg, Math.min(sendDepth.get(e.msg) ?? Infinity, d + 1));
  }

  // ---- forwards: drops of messages sent in the past, what became of each send, counters ----------------
  const pastSends = new Map<number, number>();
  const fate = new Map<number, number>();
  const sendAt = new Map<number, number>();
  const counters = new Map<string, Counter>();
  const leaves: (string | number)[] = [];
  for (let i = first; i < end; i++) {
    const e = at(i);
    const k = i - first;
    if (e.kind === 'send') {
      sendAt.set(e.msg, i);
      if (depth[k] !== NOT) pastSends.set(e.msg, depth[k] as number);
      if (typeof e.data !== 'object' || e.data === null) {
        if (typeof e.data === 'number') count(counters, `${linkOf(e)}||`, e.data);
      } else {
        leaves.length = 0;
        numberLeaves(e.data, '', 0, leaves);
        if (leaves.length > 0) {
          const prefix = `${linkOf(e)}|${kindOf(e.data) ?? ''}|`;
          for (let j = 0; j < leaves.length; j += 2) count(counters, prefix + (leaves[j] as string), leaves[j + 1] as number);
        }
      }
    } else if (e.kind === 'deliver' || e.kind === 'drop') {
      if (!fate.has(e.msg)) fate.set(e.msg, i);
      if (e.kind === 'drop' && depth[k] === NOT) {
        const d = pastSends.get(e.msg);
        if (d !== undefined) depth[k] = d + 1;
      }
    }
  }
  // Up at every step (a rare reset allowed: a new term, a reboot); never the same twice in a row. `kinds`
  // holds the link and kind of every message with a counter in it: the others are read as they are.
  const counting = new Set<string>();
  const kinds = new Set<string>();
  for (const [key, c] of counters) {
    if (c.ups < COUNTER_MIN - 1 || c.flat > 0 || c.downs * 10 > c.ups) continue;
    counting.add(key);
    kinds.add(key.slice(0, key.lastIndexOf('|') + 1));
  }
  const text = new Texts();

  // ---- content: the same again (counters aside) in the past; what never got through; resends ----------
  const seen = new Set<string>();
  const novel = new Uint8Array(n);
  const label: string[] = new Array<string>(n);
  const normal: (string | undefined)[] = new Array<string | undefined>(n);
  let past = 0;
  for (let i = first; i < end; i++) {
    const k = i - first;
    const e = at(i);
    const key = contentOf(e, counting, kinds, text);
    normal[k] = key;
    if (depth[k] === NOT) continue;
    past++;
    if (key === undefined || !seen.has(key)) novel[k] = 1;
    if (key !== undefined) seen.add(key);
    label[k] = labelOf(e);
  }
  // Backwards, by content on a link: did the like of a lost message get through later (a message of the same
  // kind, or the same message when it names no kind); the next send of exactly the same.
  // (Only the sends of a link and kind that lost a message, not to a partition, are read as text for that.)
  const resent = new Set<string>();
  for (let i = first; i < end; i++) {
    const e = at(i);
    if (e.kind === 'drop' && e.detail !== 'partitioned') resent.add(`${linkOf(e)}|${kindOf(e.data) ?? ''}`);
  }
  const deliveredLater = new Set<string>();
  const nextSame = new Map<number, number>();
  const lastSend = new Map<string, number>();
  const lostForGood = new Uint8Array(n);
  for (let i = end - 1; i >= first; i--) {
    const e = at(i);
    if (e.kind !== 'send' && e.kind !== 'deliver' && e.kind !== 'drop') continue;
    const link = linkOf(e);
    const kind = kindOf(e.data);
    if (e.kind === 'send') {
      if (!resent.has(`${link}|${kind ?? ''}`)) continue;
      const exact = `${link}|${text.of(e.data)}`;
      const later = lastSend.get(exact);
      if (later !== undefined) nextSame.set(i, later);
      lastSend.set(exact, i);
      continue;
    }
    const like = kind === undefined ? `${link}|${text.of(e.data)}` : `${link}||${kind}`;
    if (e.kind === 'deliver') deliveredLater.add(like);
    else lostForGood[i - first] = deliveredLater.has(like) ? 0 : 1;
  }
  const focus = new Set<NodeId>(opts.nodes ?? []);
  const lastNode = end > first ? at(end - 1).node : undefined;
  if (lastNode !== undefined) focus.add(lastNode);

  // ---- candidates, most wanted first --------------------------------------------------------------------
  const order: number[] = [];
  // 1. The last events of the causal past.
  let tail = 0;
  for (let i = end - 1; i >= first && tail < tailSize; i--) {
    if (depth[i - first] === NOT) continue;
    order.push(i);
    tail++;
  }
  // 2. Every fault, crash and restart.
  for (let i = end - 1; i >= first; i--) {
    const kind = at(i).kind;
    if (kind === 'crash' || kind === 'restart' || kind === 'fault') order.push(i);
  }
  // 3. What happened in the past at the times the failure names (a send with its delivery or drop).
  const times = new Set((opts.times ?? []).map(micros));
  if (times.size > 0) {
    for (let i = end - 1; i >= first; i--) {
      const e = at(i);
      if (depth[i - first] === NOT || !times.has(micros(e.time))) continue;
      order.push(i);
      if (e.kind === 'send') {
        const f = fate.get(e.msg);
        if (f !== undefined) order.push(f);
      }
    }
  }
  // ... then what each node the failure is about heard last,
  const heard = new Set<NodeId>();
  for (let i = end - 1; i >= first && heard.size < focus.size; i--) {
    const e = at(i);
    if (e.kind !== 'deliver' || e.node === undefined || !focus.has(e.node) || heard.has(e.node)) continue;
    heard.add(e.node);
    order.push(i);
  }
  // ... then the events carrying a string the failure quotes, latest first.
  const values = new Set(opts.values ?? []);
  if (values.size > 0) {
    const quoted: number[] = [];
    const quotedSeen = new Set<string>();
    for (let i = first; i < end; i++) {
      const e = at(i);
      if (e.kind !== 'op' && e.kind !== 'note' && e.kind !== 'timer' && e.kind !== 'deliver' && e.kind !== 'drop') continue;
      if (!hasString(e.data, values, 0)) continue;
      const key = normal[i - first];
      if (key !== undefined) {
        if (quotedSeen.has(key)) continue;
        quotedSeen.add(key);
      }
      quoted.push(i);
    }
    order.push(...quoted.reverse());
  }
  // 4. Messages to or from the nodes the failure is about that never got through: on each link, the first of
  //    each kind lost for each reason (from then on, nothing like it got through).
  const lostSeen = new Set<string>();
  const lost: number[] = [];
  for (let i = first; i < end; i++) {
    const k = i - first;
    const e = at(i);
    if (lostForGood[k] !== 1 || !(focus.has(e.node as NodeId) || focus.has(e.peer as NodeId))) continue;
    const kind = kindOf(e.data);
    const key = kind === undefined ? (normal[k] as string) : `${linkOf(e)}|${e.detail}|${kind}`;
    if (lostSeen.has(key)) continue;
    lostSeen.add(key);
    lost.push(i);
  }
  order.push(...lost.reverse());
  // 5. The last client operations (what the clients saw happen).
  for (let i = end - 1, ops = 0; i >= first && ops < RECENT_OPS; i--) {
    if (at(i).kind !== 'op') continue;
    order.push(i);
    ops++;
  }
  // 6. The first of each content in the past, and every client operation: nearest first, then latest.
  const ranked: number[] = [];
  for (let i = first; i < end; i++) {
    const k = i - first;
    const e = at(i);
    if (e.kind === 'op') ranked.push(i);
    else if (depth[k] !== NOT && novel[k] === 1 && e.kind !== 'crash' && e.kind !== 'restart' && e.kind !== 'fault') {
      // A send is told by its delivery or drop, unless it had none yet.
      if (e.kind !== 'send' || !fate.has(e.msg)) ranked.push(i);
    }
  }
  const rank = (i: number): number => {
    const d = depth[i - first] as number;
    return d === NOT ? 1 : d; // a client operation outside the causal past: as near as a neighbour
  };
  ranked.sort((x, y) => rank(x) - rank(y) || y - x);
  order.push(...ranked);
  // 7. Rows to spare: the rest of the past, latest first (then, once it is all shown, the rest: a short run
  //    reads as before).
  for (let i = end - 1; i >= first; i--) if (depth[i - first] !== NOT) order.push(i);

  // ---- take them while the rows last: each run of skipped events is a row too --------------------------
  const chosen: number[] = [];
  const taken = new Set<number>();
  let rows = 0;
  const lead = (y: number): number => (first > 0 || y > first ? 1 : 0);
  const trail = (y: number): number => (y < end - 1 ? 1 : 0);
  const between = (a: number, b: number): number => (b - a > 1 ? 1 : 0);
  const take = (x: number): boolean => {
    if (taken.has(x)) return false;
    const pos = lowerBound(chosen, x);
    const prev = pos > 0 ? chosen[pos - 1] : undefined;
    const next = pos < chosen.length ? chosen[pos] : undefined;
    let delta: number;
    if (prev !== undefined && next !== undefined) delta = between(prev, x) + between(x, next) - between(prev, next);
    else if (next !== undefined) delta = lead(x) + between(x, next) - lead(next);
    else if (prev !== undefined) delta = between(prev, x) + trail(x) - trail(prev);
    else delta = lead(x) + trail(x);
    if (rows + 1 + delta > budget) return false;
    rows += 1 + delta;
    chosen.splice(pos, 0, x);
    taken.add(x);
    return true;
  };
  for (const x of order) {
    if (!take(x)) continue;
    // A message lost (not to a partition, which its row explains): was the same sent again, and what became of it?
    for (let y = x, hops = 0; at(y).kind === 'drop' && at(y).detail !== 'partitioned' && hops < 8; hops++) {
      const s = sendAt.get(at(y).msg);
      const again = s === undefined ? undefined : nextSame.get(s);
      if (again === undefined) break;
      const f = fate.get(at(again).msg);
      y = f ?? again;
      if (!take(y) && taken.has(y) === false) break;
    }
  }
  let whole = true;
  for (let i = first; i < end && whole; i++) whole = depth[i - first] === NOT || taken.has(i);
  if (whole) for (let i = end - 1; i >= first; i--) if (depth[i - first] === NOT) take(i);
  // A run of one skipped event of the past costs a row either way: show it instead.
  for (let j = chosen.length - 1; j >= 0; j--) {
    const x = chosen[j] as number;
    const prev = j > 0 ? (chosen[j - 1] as number) : first > 0 ? undefined : first - 1;
    if (prev !== undefined && x - prev === 2 && depth[x - 1 - first] !== NOT) {
      chosen.splice(j, 0, x - 1);
      taken.add(x - 1);
    }
  }

  const gapNote = (skipped: readonly number[]): string => {
    let unrelated = 0;
    let more = 0;
    const repeats = new Map<string, number>();
    let repeated = 0;
    for (const i of skipped) {
      const k = i - first;
      if (k < 0 || k >= n) continue;
      if (depth[k] === NOT) unrelated++;
      else if (novel[k] === 0) {
        repeated++;
        const l = label[k] as string;
        repeats.set(l, (repeats.get(l) ?? 0) + 1);
      } else more++;
    }
    const parts: string[] = [];
    if (repeated > 0) {
      const top = [...repeats].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      parts.push(`${repeated} repeat${repeated === 1 ? '' : 's'} (${top.slice(0, 3).map(([l]) => l).join(', ')}${top.length > 3 ? ', …' : ''})`);
    }
    if (more > 0) parts.push(`${more} more of its causal past`);
    if (unrelated > 0) parts.push(`${unrelated} outside its causal past`);
    return parts.join(', ');
  };

  return { indexes: chosen, gapNote, past, total: n };
}

/**
 * The names of `names` that `text` mentions as words (`b`, `n2`, `p1:a` names p1), in the order of `names`.
 */
export function mentionedNodes(text: string, names: readonly NodeId[]): NodeId[] {
  return names.filter((id) => {
    let from = 0;
    for (;;) {
      const i = text.indexOf(id, from);
      if (i < 0) return false;
      const before = i === 0 ? '' : (text[i - 1] as string);
      const after = text[i + id.length] ?? '';
      if (!/[\w$]/.test(before) && !/[\w$]/.test(after)) return true;
      from = i + 1;
    }
  });
}

/** The strings `text` quotes (`"w3"`, JSON escapes undone), in order. */
export function quotedStrings(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
    try {
      out.push(JSON.parse(`"${m[1] ?? ''}"`) as string);
    } catch {
      out.push(m[1] ?? '');
    }
  }
  return out;
}

/** The virtual times `text` names as `t=12.5` (a failure message's way), in order. */
export function mentionedTimes(text: string): number[] {
  const out: number[] = [];
  for (const m of text.matchAll(/\bt=(-?\d+(?:\.\d+)?)/g)) out.push(Number(m[1]));
  return out;
}

/** The endpoint whose own sequence of events `e` belongs to (a drop belongs to none: nobody handled it). */
function localOf(e: TraceEvent): NodeId | undefined {
  return e.kind === 'drop' ? undefined : e.node;
}

/** A message's link, sender first, for sends, deliveries and drops alike. */
function linkOf(e: TraceEvent): string {
  return e.kind === 'send' ? `${e.node ?? ''}>${e.peer ?? ''}|${e.flavor ?? ''}` : `${e.peer ?? ''}>${e.node ?? ''}|${e.flavor ?? ''}`;
}

function micros(t: number): number {
  return Math.round(t * 1000);
}

/** The content of an event, for "the same again?"; undefined for an event that is never a repeat. */
function contentOf(e: TraceEvent, counting: ReadonlySet<string>, kinds: ReadonlySet<string>, text: Texts): string | undefined {
  switch (e.kind) {
    case 'send':
    case 'deliver':
    case 'drop': {
      const link = linkOf(e);
      const prefix = `${link}|${kindOf(e.data) ?? ''}|`;
      const body = kinds.has(prefix) ? text.counted(e.data, counting, prefix) : text.of(e.data);
      return `${e.kind}|${link}|${e.detail}|${body}`;
    }
    case 'timer':
    case 'note':
      return `${e.kind}|${e.node ?? ''}|${e.detail}|${text.of(e.data)}`;
    default:
      return undefined;
  }
}

/** What a repeated event was, in a word: a message's `kind` or `type` field, a timer's tag. */
function labelOf(e: TraceEvent): string {
  const d = e.data;
  switch (e.kind) {
    case 'send':
    case 'deliver':
    case 'drop': {
      const kind = kindOf(d);
      return kind !== undefined ? short(kind) : typeof d === 'string' ? short(d) : 'messages';
    }
    case 'timer':
      return typeof d === 'string' ? `${short(d)} timers` : 'timers';
    case 'note':
      return 'notes';
    default:
      return e.kind;
  }
}

/** A message's kind, when it names one in a `kind`, `type` or `op` field. */
function kindOf(d: unknown): string | undefined {
  if (typeof d !== 'object' || d === null) return undefined;
  const o = d as Record<string, unknown>;
  for (const f of ['kind', 'type', 'op']) if (typeof o[f] === 'string') return o[f] as string;
  return undefined;
}

function short(s: string): string {
  return s.length <= 24 ? s : s.slice(0, 23) + '…';
}

interface Counter {
  last: number;
  ups: number;
  flat: number;
  downs: number;
}

function count(counters: Map<string, Counter>, key: string, v: number): void {
  if (!Number.isFinite(v)) return;
  const c = counters.get(key);
  if (c === undefined) counters.set(key, { last: v, ups: 0, flat: 0, downs: 0 });
  else {
    if (v > c.last) c.ups++;
    else if (v === c.last) c.flat++;
    else c.downs++;
    c.last = v;
  }
}

/**
 * Appends path, value for each number field of a payload (plain objects, to a fixed depth: a counter is a
 * field, as `round` or `header.ts`; the numbers in an array are data).
 */
function numberLeaves(x: unknown, path: string, d: number, out: (string | number)[]): void {
  if (typeof x === 'number') {
    if (out.length < 2 * MAX_LEAVES) out.push(path, x);
    return;
  }
  if (typeof x !== 'object' || x === null || d >= MAX_DEPTH || Array.isArray(x) || !isPlain(x)) return;
  for (const k of Object.keys(x)) numberLeaves((x as Record<string, unknown>)[k], `${path}.${k}`, d + 1, out);
}

/** Whether a payload is, or holds (plain objects and arrays, to a fixed depth), one of `values`. */
function hasString(x: unknown, values: ReadonlySet<string>, d: number): boolean {
  if (typeof x === 'string') return values.has(x);
  if (typeof x !== 'object' || x === null || d >= MAX_DEPTH) return false;
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length && i < MAX_LEAVES; i++) if (hasString(x[i], values, d + 1)) return true;
  } else if (isPlain(x)) {
    for (const k of Object.keys(x)) if (hasString((x as Record<string, unknown>)[k], values, d + 1)) return true;
  }
  return false;
}

/** Payloads as text, each object once (a send and its deliveries share their payload). */
class Texts {
  private readonly exact = new Map<object, string>();
  private readonly normal = new Map<object, { prefix: string; text: string }>();
  of(v: unknown): string {
    if (typeof v !== 'object' || v === null) return canonical(v, '', 0, undefined);
    let t = this.exact.get(v);
    if (t === undefined) {
      t = canonical(v, '', 0, { counting: undefined, prefix: '', leaves: 0, seen: new Set() });
      this.exact.set(v, t);
    }
    return t;
  }
  /** With the numbers that count up on messages of `prefix` (link and kind) written as `#`. */
  counted(v: unknown, counting: ReadonlySet<string>, prefix: string): string {
    if (typeof v !== 'object' || v === null) return canonical(v, '', 0, { counting, prefix, leaves: 0, seen: new Set() });
    const hit = this.normal.get(v);
    if (hit !== undefined && hit.prefix === prefix) return hit.text;
    const text = canonical(v, '', 0, { counting, prefix, leaves: 0, seen: new Set() });
    this.normal.set(v, { prefix, text });
    return text;
  }
}

interface Walk {
  /** With `prefix`: the paths of the numbers written as `#`. */
  readonly counting: ReadonlySet<string> | undefined;
  readonly prefix: string;
  leaves: number;
  readonly seen: Set<object>;
}

/** A payload as text, with each number that counts up (by its path) written as `#`. */
function canonical(x: unknown, path: string, d: number, w: Walk | undefined): string {
  switch (typeof x) {
    case 'number':
      if (w !== undefined && w.leaves++ >= MAX_LEAVES) return '…';
      return w?.counting !== undefined && Number.isFinite(x) && w.counting.has(w.prefix + path) ? '#' : Object.is(x, -0) ? '-0' : String(x);
    case 'string':
      if (w !== undefined && w.leaves++ >= MAX_LEAVES) return '…';
      return JSON.stringify(x);
    case 'bigint':
      return `${x}n`;
    case 'function':
      return 'fn';
    case 'symbol':
      return x.toString();
    case 'boolean':
    case 'undefined':
      return String(x);
  }
  if (x === null) return 'null';
  if (w === undefined) return '…';
  const o = x as object;
  if (w.seen.has(o) || d >= MAX_DEPTH || w.leaves >= MAX_LEAVES) return '…';
  w.seen.add(o);
  const paths = w.counting !== undefined;
  const parts: string[] = [];
  let open = '{';
  let close = '}';
  if (Array.isArray(o)) {
    open = '[';
    close = ']';
    for (let i = 0; i < o.length; i++) parts.push(canonical(o[i], paths ? `${path}[${i}]` : '', d + 1, w));
  } else if (o instanceof Uint8Array) {
    open = 'bytes[';
    close = ']';
    parts.push(Array.from(o.subarray(0, 64)).join(',') + (o.length > 64 ? `…${o.length}` : ''));
  } else if (o instanceof Map) {
    open = 'Map{';
    for (const [k, y] of o) parts.push(`${canonical(k, paths ? `${path}<k>` : '', d + 1, w)}=>${canonical(y, paths ? `${path}<v>` : '', d + 1, w)}`);
  } else if (o instanceof Set) {
    open = 'Set{';
    for (const y of o) parts.push(canonical(y, paths ? `${path}<e>` : '', d + 1, w));
  } else {
    if (!isPlain(o)) open = `${(Object.getPrototypeOf(o) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object'}{`;
    for (const k of Object.keys(o)) parts.push(`${JSON.stringify(k)}:${canonical((o as Record<string, unknown>)[k], paths ? `${path}.${k}` : '', d + 1, w)}`);
  }
  w.seen.delete(o);
  return open + parts.join(',') + close;
}

function isPlain(o: object): boolean {
  const p = Object.getPrototypeOf(o) as object | null;
  return p === null || p === Object.prototype;
}

/** The first position in ascending `a` whose value is >= x. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((a[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
