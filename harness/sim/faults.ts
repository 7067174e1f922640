// Faults as data: the codes of CURRICULUM §A.2 as timed events, and how each reads in a report.
import type { NodeId } from './types.ts';

/** L loss · D duplication · R delay/reorder · P partition · AP one-way partition · C crash+restart ·
 * T crash with torn/lost unsynced tail · CD crash inside a handler, right after a disk operation · G pause ·
 * SK clock offset · DR clock drift · ST wall-clock step · SD slow fsync · H heal. */
export type FaultCode = 'L' | 'D' | 'R' | 'P' | 'AP' | 'C' | 'T' | 'CD' | 'G' | 'SK' | 'DR' | 'ST' | 'SD' | 'H';

export const FAULT_CODES: readonly FaultCode[] = ['L', 'D', 'R', 'P', 'AP', 'C', 'T', 'CD', 'G', 'SK', 'DR', 'ST', 'SD', 'H'];

/** One fault. Network faults (L, D, R, P, AP) and SD, DR last until H or until replaced by the same code. */
export type Fault =
  /** Lose pct% of messages on every link. */
  | { readonly code: 'L'; readonly pct: number }
  /** Deliver pct% of messages twice. */
  | { readonly code: 'D'; readonly pct: number }
  /** Give pct% of messages a heavy-tailed extra delay of up to maxMs (so they overtake each other). */
  | { readonly code: 'R'; readonly pct: number; readonly maxMs: number }
  /** Split the network: endpoints in different groups cannot talk; endpoints in no group form one more group. */
  | { readonly code: 'P'; readonly groups: readonly (readonly NodeId[])[] }
  /** Drop every message from `from` to `to` (the other direction still works). */
  | { readonly code: 'AP'; readonly from: NodeId; readonly to: NodeId }
  /**
   * Crash `node` (volatile state, timers, in-flight messages to it lost; fsync'd disk kept), restart after downMs.
   * With `late` > 0 the messages in flight to it are not lost: each arrives after the restart, within `late` ms
   * of it (or at its own arrival time, if that is later).
   */
  | { readonly code: 'C'; readonly node: NodeId; readonly downMs: number; readonly late?: number }
  /** Like C, but the disk keeps a random prefix of the unsynced tail of the file appended last (a torn write). */
  | { readonly code: 'T'; readonly node: NodeId; readonly downMs: number; readonly late?: number }
  /**
   * Arm a crash of `node` inside a handler: right after its `op`-th disk operation (write, append, fsync, rename or
   * delete) from now, the node crashes as under C (as under T with `torn`), and the rest of that handler has no
   * effect. Operations during recovery (`init`) count. Disarmed by H or when it fires; a second CD replaces it.
   */
  | { readonly code: 'CD'; readonly node: NodeId; readonly op: number; readonly downMs: number; readonly torn?: boolean; readonly late?: number }
  /** Pause `node` for ms (a GC or VM pause): it handles nothing, its clocks keep running. */
  | { readonly code: 'G'; readonly node: NodeId; readonly ms: number }
  /** Set `node`'s wall clock to true time + offsetMs. */
  | { readonly code: 'SK'; readonly node: NodeId; readonly offsetMs: number }
  /** Make `node`'s clocks run at rate 1 + ppm/1e6. */
  | { readonly code: 'DR'; readonly node: NodeId; readonly ppm: number }
  /** Step `node`'s wall clock by deltaMs (negative: backwards). */
  | { readonly code: 'ST'; readonly node: NodeId; readonly deltaMs: number }
  /** Every fsync on `node` stalls it for fsyncMs (0: normal again). */
  | { readonly code: 'SD'; readonly node: NodeId; readonly fsyncMs: number }
  /** Heal: network faults off, crashed nodes restarted, drift 0, disks fast. Clock offsets already taken stay. */
  | { readonly code: 'H' };

/** A fault at a virtual time (ms). */
export type FaultEvent = Fault & { readonly at: number };

/** A nemesis schedule: plain data, in any order (the simulator applies it sorted by time, ties in order). */
export type Schedule = readonly FaultEvent[];

function group(g: readonly NodeId[]): string {
  return `{${g.join(', ')}}`;
}

/** `late` in words: what happens to the messages in flight to a crashed node. */
function lateText(late: number | undefined): string {
  return late !== undefined && late > 0 ? `; messages in flight to it arrive up to ${late} ms after the restart` : '';
}

/** 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st. */
export function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? 'th' : n % 10 === 1 ? 'st' : n % 10 === 2 ? 'nd' : n % 10 === 3 ? 'rd' : 'th';
  return `${n}${suffix}`;
}

/** The fault in a few words: `lose 30% of messages`, `crash b, restart after 120 ms`. */
export function describeFault(f: Fault): string {
  switch (f.code) {
    case 'L':
      return `lose ${f.pct}% of messages`;
    case 'D':
      return `duplicate ${f.pct}% of messages`;
    case 'R':
      return `delay ${f.pct}% of messages by up to ${f.maxMs} ms more (reordering)`;
    case 'P':
      return f.groups.length === 0 ? 'partition: none' : `partition ${f.groups.map(group).join(' | ')} | everyone else`;
    case 'AP':
      return `drop every message ${f.from} → ${f.to} (one way)`;
    case 'C':
      return `crash ${f.node}, restart after ${f.downMs} ms${lateText(f.late)}`;
    case 'T':
      return `crash ${f.node} tearing its unsynced disk tail, restart after ${f.downMs} ms${lateText(f.late)}`;
    case 'CD':
      return (
        `crash ${f.node} right after the ${ordinal(f.op)} disk operation it makes from this time on` +
        `${f.torn === true ? ', tearing its unsynced disk tail' : ''}, ` +
        `restart after ${f.downMs} ms${lateText(f.late)}`
      );
    case 'G':
      return `pause ${f.node} for ${f.ms} ms`;
    case 'SK':
      return `set ${f.node}'s wall clock ${f.offsetMs >= 0 ? '+' : ''}${f.offsetMs} ms from true time`;
    case 'DR':
      return `${f.node}'s clocks drift ${f.ppm >= 0 ? '+' : ''}${f.ppm} ppm`;
    case 'ST':
      return `step ${f.node}'s wall clock by ${f.deltaMs >= 0 ? '+' : ''}${f.deltaMs} ms`;
    case 'SD':
      return f.fsyncMs > 0 ? `${f.node}'s fsync takes ${f.fsyncMs} ms` : `${f.node}'s disk is fast again`;
    case 'H':
      return 'heal: every fault off';
  }
}

/** The schedule sorted by time; events at the same time keep their order. */
export function sortSchedule(s: Schedule): FaultEvent[] {
  return s.map((e, i) => [e, i] as const).sort((a, b) => a[0].at - b[0].at || a[1] - b[1]).map(([e]) => e);
}

/** One line per event (`  t=120 ms  C   crash b, restart after 80 ms`), or `(no faults)`. */
export function describeSchedule(s: Schedule, indent = '  '): string {
  if (s.length === 0) return `${indent}(no faults)`;
  const sorted = sortSchedule(s);
  const w = Math.max(...sorted.map((e) => String(e.at).length));
  return sorted.map((e) => `${indent}t=${String(e.at).padStart(w)} ms  ${e.code.padEnd(2)}  ${describeFault(e)}`).join('\n');
}

/** The nodes a schedule names (to check them against a world before running it). */
export function nodesNamed(f: Fault): NodeId[] {
  switch (f.code) {
    case 'P':
      return f.groups.flat();
    case 'AP':
      return [f.from, f.to];
    case 'C':
    case 'T':
    case 'CD':
    case 'G':
    case 'SK':
    case 'DR':
    case 'ST':
    case 'SD':
      return [f.node];
    default:
      return [];
  }
}
