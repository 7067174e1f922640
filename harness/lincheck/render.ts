// Renders a counterexample as a plain-text timeline, one row per process, marking the operation that cannot be placed.
import type { Counterexample, CounterexampleOp } from './checker.ts';

export interface RenderOptions {
  /** The file line of each history event: the list then names lines instead of event indices. */
  readonly lineOf?: readonly number[];
}

const MARK = '<-- cannot be linearized';

/**
 * Two operations overlap on the timeline exactly when they overlapped in the history: every invocation and
 * completion gets its own column, in history order, and bars are stretched to fit their labels.
 */
export function renderCounterexample(cx: Counterexample, options: RenderOptions = {}): string {
  const ops = cx.ops;
  const culprit = ops[cx.culprit];
  const out: string[] = [];
  const key = cx.key === undefined ? '' : ` on key ${JSON.stringify(cx.key)}`;
  const n = ops.length;
  const these = n === 1 ? 'this operation has' : `these ${n} operations have`;
  out.push(`not linearizable${key}: ${these} no order legal for ${cx.model} that respects real time.`);
  if (culprit !== undefined && !cx.truncated) {
    const who = `p${culprit.process}'s ${culprit.description}`;
    out.push(`The history is linearizable up to the completion of ${who}, which cannot be placed.`);
  } else if (culprit !== undefined) {
    out.push(`p${culprit.process}'s ${culprit.description} cannot be placed.`);
  }
  if (cx.others === 1) {
    out.push(
      'The 1 other operation invoked by then cannot help, whatever its outcome and whenever after its invocation ' +
        'it took effect (or not at all).',
    );
  } else if (cx.others > 1) {
    out.push(
      `The ${cx.others} other operations invoked by then cannot help, whatever their outcomes and whenever after ` +
        'their invocations they took effect (or not at all).',
    );
  }
  if (cx.truncated) {
    out.push('(Shrinking ran out of budget: some of these operations may not be needed, and earlier ones may fail too.)');
  }
  out.push('');

  // Columns: walk the events in history order; a completion must leave room for its label after its invocation.
  type Point = { index: number; op: number; end: boolean };
  const points: Point[] = [];
  ops.forEach((op, i) => {
    points.push({ index: op.invokeIndex, op: i, end: false });
    if (op.completeIndex !== null) points.push({ index: op.completeIndex, op: i, end: true });
  });
  points.sort((a, b) => a.index - b.index || Number(a.end) - Number(b.end));
  const start = new Array<number>(ops.length).fill(0);
  const stop = new Array<number>(ops.length).fill(-1);
  let x = -2;
  for (const p of points) {
    x += 2;
    if (p.end) x = Math.max(x, start[p.op]! + ops[p.op]!.description.length + 3);
    if (p.end) stop[p.op] = x;
    else start[p.op] = x;
  }
  const width = x + 1;
  const openEnd = width + 4;

  // Rows: one per process, in order of first appearance; a process whose operation never completed may need more.
  const rows: { process: number; ops: number[]; end: number }[] = [];
  ops.forEach((op, i) => {
    const row = rows.find((r) => r.process === op.process && r.end < start[i]!);
    const end = stop[i]! < 0 ? openEnd : stop[i]!;
    if (row === undefined) rows.push({ process: op.process, ops: [i], end });
    else {
      row.ops.push(i);
      row.end = end;
    }
  });
  rows.sort((a, b) => ops[a.ops[0]!]!.invokeIndex - ops[b.ops[0]!]!.invokeIndex);
  const labelWidth = Math.max(...rows.map((r) => `p${r.process}`.length));
  for (const row of rows) {
    const line = new Array<string>(openEnd + 1).fill(' ');
    let marked = false;
    for (const i of row.ops) {
      const op = ops[i]!;
      const isCulprit = i === cx.culprit;
      marked ||= isCulprit;
      const a = start[i]!;
      const b = stop[i]! < 0 ? openEnd : stop[i]!;
      const fill = isCulprit ? '=' : '-';
      for (let k = a + 1; k < b; k++) line[k] = fill;
      line[a] = '[';
      line[b] = stop[i]! < 0 ? '>' : ']';
      const label = ` ${op.description} `;
      for (let k = 0; k < label.length && a + 1 + k < b; k++) line[a + 1 + k] = label[k]!;
    }
    const text = line.join('').trimEnd();
    out.push(`  ${`p${row.process}`.padEnd(labelWidth)}  ${text}${marked ? `  ${MARK}` : ''}`);
  }
  out.push('');

  // The same operations as a list, with where to find them.
  const descWidth = Math.max(...ops.map((o) => o.description.length));
  const procWidth = Math.max(...ops.map((o) => `p${o.process}`.length));
  ops.forEach((op, i) => {
    const mark = i === cx.culprit ? `  ${MARK}` : '';
    out.push(`  ${`p${op.process}`.padEnd(procWidth)}  ${op.description.padEnd(descWidth)}  ${where(op, options)}${mark}`);
  });
  return out.join('\n');
}

function where(op: CounterexampleOp, options: RenderOptions): string {
  const lineOf = options.lineOf;
  if (lineOf !== undefined) {
    const a = lineOf[op.invokeIndex];
    const b = op.completeIndex === null ? undefined : lineOf[op.completeIndex];
    return b === undefined ? `line ${a}, never completed` : `lines ${a}-${b}`;
  }
  if (op.invokeTime !== undefined) {
    return op.completeTime === undefined
      ? `invoked at ${op.invokeTime} ms, never completed`
      : `invoked at ${op.invokeTime} ms, completed at ${op.completeTime} ms`;
  }
  return op.completeIndex === null ? `event ${op.invokeIndex}, never completed` : `events ${op.invokeIndex}-${op.completeIndex}`;
}
