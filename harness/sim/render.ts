// Turns a trace into a terminal space-time diagram (a column per node, time downwards) or a plain event log.
import { describeFault, type Fault } from './faults.ts';
import { brief, ms } from './format.ts';
import type { Trace, TraceEvent } from './trace.ts';
import type { NodeId } from './types.ts';

export interface DiagramOptions {
  /** First trace index to show (default: the oldest kept). */
  readonly from?: number;
  /** Show events before this index (default: all). */
  readonly to?: number;
  /** At most this many events, the last ones before `to`. */
  readonly last?: number;
  /** Columns, in order (default: every endpoint in the trace). */
  readonly nodes?: readonly NodeId[];
  /**
   * With `nodes`: show only what happens at those nodes (a message to or from one of them still shows, with a
   * column for its other end); without it, other endpoints in the window get columns too.
   */
  readonly onlyNodes?: boolean;
  /** Only ASCII characters. */
  readonly ascii?: boolean;
  /** ANSI colours. Off by default, and always off when NO_COLOR is set. */
  readonly color?: boolean;
  /** Hide `send` rows (deliveries and drops still show who sent what, and when). */
  readonly hideSends?: boolean;
  /** Longest payload text in a label (default 48). */
  readonly payloadWidth?: number;
  /**
   * Only the events at these trace indexes (within the other options' window); each run of events skipped
   * between them is one `… N events not shown` row, so the diagram never hides that time passed.
   */
  readonly indexes?: readonly number[];
  /** With `indexes`: words for a `… N events not shown` row, given the trace indexes it stands for. */
  readonly gapNote?: (skipped: readonly number[]) => string;
}

interface Glyphs {
  up: string;
  down: string;
  paused: string;
  line: string;
  dash: string;
  cross: string;
  right: string;
  left: string;
  fromLeft: string;
  fromRight: string;
  send: string;
  deliver: string;
  drop: string;
  timer: string;
  crash: string;
  restart: string;
  fault: string;
  net: string;
  note: string;
  op: string;
}

const UNICODE: Glyphs = {
  up: '│',
  down: '·',
  paused: '┆',
  line: '─',
  dash: '╌',
  cross: '┼',
  right: '▶',
  left: '◀',
  fromLeft: '╰',
  fromRight: '╯',
  send: '○',
  deliver: '●',
  drop: '✕',
  timer: '◷',
  crash: '⊗',
  restart: '⊕',
  fault: '◆',
  net: '═',
  note: '◇',
  op: '□',
};

const ASCII: Glyphs = {
  up: '|',
  down: '.',
  paused: ':',
  line: '-',
  dash: '.',
  cross: '+',
  right: '>',
  left: '<',
  fromLeft: '\\',
  fromRight: '/',
  send: 'o',
  deliver: '*',
  drop: 'x',
  timer: 't',
  crash: 'X',
  restart: '+',
  fault: '#',
  net: '=',
  note: '.',
  op: '[',
};

const RED = '\u001b[31m';
const YELLOW = '\u001b[33m';
const CYAN = '\u001b[36m';
const DIM = '\u001b[2m';
const RESET = '\u001b[0m';

function colorAllowed(opt: boolean | undefined): boolean {
  const noColor = typeof process !== 'undefined' ? process.env['NO_COLOR'] : undefined;
  return opt === true && (noColor === undefined || noColor === '');
}

function isFault(x: unknown): x is Fault {
  return typeof x === 'object' && x !== null && typeof (x as { code?: unknown }).code === 'string';
}

/** The label text of one event (shared by the diagram and the log). */
export function describeEvent(e: TraceEvent, payloadWidth = 48): string {
  const link = `${e.peer ?? '?'}→${e.node ?? '?'}`;
  const fl = e.flavor === undefined || e.flavor === 'msg' ? '' : ` ${e.flavor}`;
  switch (e.kind) {
    case 'send':
      return `${e.node ?? '?'}→${e.peer ?? '?'} #${e.msg}${fl} send ${brief(e.data, payloadWidth)}`;
    case 'deliver':
      return `${link} #${e.msg}${fl} ${brief(e.data, payloadWidth)}${e.detail !== '' ? ` (${e.detail})` : ''}`;
    case 'drop':
      return `${link} #${e.msg}${fl} DROPPED: ${e.detail} ${brief(e.data, payloadWidth)}`;
    case 'timer':
      return e.detail === '' ? `${e.node ?? '?'} timer ${brief(e.data, payloadWidth)}` : `${e.node ?? '?'} ${e.detail} ${brief(e.data, payloadWidth)}`;
    case 'crash': {
      const f = e.data;
      if (isFault(f) && f.code === 'CD' && e.detail !== 'already down') {
        // The arming was its own line (◆); this is where it struck: which operation, inside which handler.
        const late = f.late !== undefined && f.late > 0 ? `; in-flight messages arrive up to ${f.late} ms after the restart` : '';
        return `CD: ${e.node ?? '?'} crashed inside a handler, ${e.detail}; restart after ${f.downMs} ms${late}`;
      }
      return `${isFault(f) ? `${f.code}: ${describeFault(f)}` : `${e.node ?? '?'} crashed`}${e.detail !== '' ? ` (${e.detail})` : ''}`;
    }
    case 'restart':
      return `${e.node ?? '?'} restarts (boot ${String(e.data)}, recovered)`;
    case 'fault':
      return isFault(e.data) ? `${e.data.code}: ${describeFault(e.data)}` : `fault ${brief(e.data, payloadWidth)}`;
    case 'note':
      return `${e.node ?? '?'} ${e.detail !== '' ? String(e.data) : brief(e.data, payloadWidth)}`;
    case 'op': {
      const h = e.data as { type?: string; f?: string; value?: unknown; key?: string; process?: number };
      const key = h.key !== undefined ? ` ${h.key}` : '';
      const val = h.value !== undefined ? ` ${brief(h.value, payloadWidth)}` : '';
      return `${e.node ?? '?'} (p${h.process ?? '?'}) ${h.type ?? '?'} ${h.f ?? '?'}${key}${val}`;
    }
  }
}

/** Times with as many decimals as the busiest of them needs (up to 3), so a column of them lines up. */
function timeFormat(events: readonly TraceEvent[]): (t: number) => string {
  let decimals = 0;
  for (const e of events) {
    const s = ms(e.time);
    const dot = s.indexOf('.');
    if (dot >= 0) decimals = Math.max(decimals, s.length - dot - 1);
  }
  return (t) => t.toFixed(decimals);
}

/** The kept trace (or a window of it) as one line per event: time, then what happened. */
export function renderLog(trace: Trace, opts: DiagramOptions = {}): string {
  const events = windowOf(trace, opts);
  const fmt = timeFormat(events);
  const tw = Math.max(1, ...events.map((e) => fmt(e.time).length));
  return events.map((e) => `${fmt(e.time).padStart(tw)}  ${e.kind.padEnd(7)}  ${describeEvent(e, opts.payloadWidth)}`).join('\n');
}

function windowOf(trace: Trace, opts: DiagramOptions): TraceEvent[] {
  const to = Math.min(opts.to ?? trace.length, trace.length);
  let from = Math.max(opts.from ?? trace.first, trace.first);
  if (opts.last !== undefined) from = Math.max(from, to - opts.last);
  const all = trace.events(from, to);
  const keep = opts.indexes === undefined ? undefined : new Set(opts.indexes);
  return all.filter((e) => (opts.hideSends !== true || e.kind !== 'send') && (keep === undefined || keep.has(e.index)));
}

/**
 * A space-time diagram: one column per node, time going down, one row per event. A delivery is an arrow
 * from the sender's column into the receiver's (●); a drop ends in ✕; ○ marks a send, ◷ a timer, ⊗ a
 * crash, ⊕ a restart, ◆ a fault on one node, ═ a fault on the network, ◇ a node's trace note, □ a client
 * operation. A column is · while its node is down and ┆ while it is paused.
 */
export function renderDiagram(trace: Trace, opts: DiagramOptions = {}): string {
  const g = opts.ascii === true ? ASCII : UNICODE;
  const color = colorAllowed(opts.color);
  const to = Math.min(opts.to ?? trace.length, trace.length);
  let from = Math.max(opts.from ?? trace.first, trace.first);
  if (opts.last !== undefined) from = Math.max(from, to - opts.last);

  const names = opts.nodes ?? trace.names;
  const shown = [...names];
  // Clients join the columns only if they appear in the window.
  const only = opts.onlyNodes === true && opts.nodes !== undefined ? new Set(opts.nodes) : undefined;
  const window = trace.events(from, to).filter((e) => only === undefined || e.node === undefined || only.has(e.node) || (e.peer !== undefined && only.has(e.peer)));
  const keep = opts.indexes === undefined ? undefined : new Set(opts.indexes);
  const rows = keep === undefined ? window : window.filter((e) => keep.has(e.index));
  for (const e of rows) {
    for (const n of [e.node, e.peer]) if (n !== undefined && !shown.includes(n) && trace.names.includes(n)) shown.push(n);
  }
  const col = new Map<NodeId, number>(shown.map((n, i) => [n, i]));
  const cw = Math.max(6, ...shown.map((n) => n.length + 2));

  // Up/down/paused state at the window's start, replayed from the oldest kept event.
  const down = new Set<NodeId>();
  const pausedUntil = new Map<NodeId, number>();
  const apply = (e: TraceEvent): void => {
    if (e.node === undefined) return;
    if (e.kind === 'crash' && e.detail !== 'already down') {
      down.add(e.node);
      pausedUntil.delete(e.node);
    } else if (e.kind === 'restart') down.delete(e.node);
    else if (e.kind === 'fault' && isFault(e.data) && e.data.code === 'G') pausedUntil.set(e.node, Math.max(pausedUntil.get(e.node) ?? 0, e.time + e.data.ms));
  };
  for (const e of trace.events(trace.first, from)) apply(e);

  const fmt = timeFormat(rows);
  const tw = Math.max(6, ...rows.map((e) => fmt(e.time).length));
  const width = shown.length * cw;
  const header = ' '.repeat(tw) + '  ' + shown.map((n) => n.padEnd(cw)).join('').trimEnd();
  const lines: string[] = [];
  const rule = g.net.repeat(Math.max(0, width - cw + 1));
  lines.push(header);
  // With `indexes`, events skipped before the first row drawn say so themselves (and count those not kept).
  const lead = keep !== undefined && from === trace.first && window.length > 0 && !keep.has((window[0] as TraceEvent).index);
  if (from > trace.first) lines.push(`${' '.repeat(tw)}  ${dimmed(`… ${from - trace.first} earlier events not shown`, color)}`);
  else if (from > 0 && !lead) lines.push(`${' '.repeat(tw)}  ${dimmed(`… ${from} earlier events not kept`, color)}`);

  const columns = (time: number): string[] => {
    const row: string[] = new Array<string>(width).fill(' ');
    for (const n of shown) {
      const x = (col.get(n) as number) * cw;
      row[x] = down.has(n) ? g.down : (pausedUntil.get(n) ?? -1) > time ? g.paused : g.up;
    }
    return row;
  };
  // With `indexes`: the skipped events since the last row drawn, told as one row before the next.
  let skipped: number[] = [];
  let drawn = 0;
  const gap = (time: number, last: boolean): void => {
    if (skipped.length === 0) return;
    const n = skipped.length;
    const note = opts.gapNote?.(skipped) ?? '';
    const when = drawn === 0 ? 'earlier ' : last ? 'later ' : '';
    const unkept = drawn === 0 && lead && from > 0 ? ` (the ${from} before ${n === 1 ? 'it' : 'them'} not kept)` : '';
    const what = `… ${n} ${when}event${n === 1 ? '' : 's'} not shown${unkept}${note !== '' ? `: ${note}` : ''}`;
    lines.push(
      drawn === 0
        ? `${' '.repeat(tw)}  ${dimmed(what, color)}`
        : `${' '.repeat(tw)}  ${columns(time).join('').trimEnd().padEnd(width)}  ${dimmed(what, color)}`.trimEnd(),
    );
    skipped = [];
  };

  for (const e of window) {
    if (keep !== undefined && !keep.has(e.index)) {
      skipped.push(e.index);
      apply(e);
      continue;
    }
    if (opts.hideSends === true && e.kind === 'send') {
      continue;
    }
    gap(e.time, false);
    drawn++;
    const row = columns(e.time);
    const x = e.node !== undefined ? col.get(e.node) : undefined;
    const px = e.peer !== undefined ? col.get(e.peer) : undefined;
    let tint = '';
    switch (e.kind) {
      case 'send':
        if (x !== undefined) row[x * cw] = g.send;
        tint = DIM;
        break;
      case 'deliver':
      case 'drop': {
        if (x === undefined) break;
        const dropped = e.kind === 'drop';
        if (px !== undefined && px !== x) {
          const a = px * cw;
          const b = x * cw;
          const step = b > a ? 1 : -1;
          for (let i = a + step; i !== b; i += step) {
            const c = row[i] as string;
            row[i] = c === g.up || c === g.paused ? (dropped ? c : g.cross) : dropped ? g.dash : g.line;
          }
          row[a] = b > a ? g.fromLeft : g.fromRight;
          if (!dropped) row[b - step] = b > a ? g.right : g.left;
        }
        row[x * cw] = dropped ? g.drop : g.deliver;
        if (dropped) tint = RED;
        break;
      }
      case 'timer':
        if (x !== undefined) row[x * cw] = g.timer;
        break;
      case 'crash':
        if (x !== undefined) row[x * cw] = g.crash;
        tint = RED;
        break;
      case 'restart':
        if (x !== undefined) row[x * cw] = g.restart;
        tint = RED;
        break;
      case 'fault':
        if (x !== undefined) row[x * cw] = g.fault;
        else for (let i = 0; i < rule.length; i++) row[i] = g.net;
        tint = RED;
        break;
      case 'note':
        if (x !== undefined) row[x * cw] = g.note;
        tint = YELLOW;
        break;
      case 'op':
        if (x !== undefined) row[x * cw] = g.op;
        tint = CYAN;
        break;
    }
    apply(e);
    const label = describeEvent(e, opts.payloadWidth);
    const cells = row.join('').trimEnd().padEnd(width);
    lines.push(`${fmt(e.time).padStart(tw)}  ${cells}  ${color && tint !== '' ? tint + label + RESET : label}`.trimEnd());
  }
  gap(window.length > 0 ? (window[window.length - 1] as TraceEvent).time : 0, true);
  return lines.join('\n');
}

function dimmed(s: string, color: boolean): string {
  return color ? DIM + s + RESET : s;
}
