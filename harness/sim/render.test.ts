import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderDiagram } from './render.ts';
import { simulate, type Sim } from './sim.ts';
import { K, Trace } from './trace.ts';
import type { Completion, Ctx, NodeId, Op, Proc } from './types.ts';

class Chatty implements Proc<string> {
  private ctx!: Ctx<string>;
  constructor(private readonly id: NodeId) {}
  init(ctx: Ctx<string>): void {
    this.ctx = ctx;
    if (this.id !== 'a') return;
    ctx.send('b', 'hi');
    ctx.send('c', 'yo');
    ctx.setTimer(8, 'again');
  }
  onMessage(from: NodeId, m: string): void {
    this.ctx.trace({ got: m });
    if (m === 'hi') this.ctx.send(from, 'back');
  }
  onTimer(): void {
    this.ctx.send('b', 'lost');
    this.ctx.send('c', 'late');
  }
  onRequest(_op: Op, reply: (r: Completion) => void): void {
    reply({ type: 'ok', value: 1 });
  }
}

async function world(): Promise<Sim> {
  const { sim } = await simulate({
    seed: 1,
    nodes: ['a', 'b', 'c'],
    clients: 1,
    network: { latency: { dist: 'fixed', ms: 2 } },
    faults: [
      { at: 1, code: 'G', node: 'c', ms: 4 },
      { at: 3, code: 'C', node: 'b', downMs: 3 },
      { at: 7, code: 'L', pct: 100 },
      { at: 9, code: 'H' },
    ],
    proc: (id) => new Chatty(id),
    workload: async (s) => {
      await s.clients[0]?.call('a', { f: 'read' }, { timeoutMs: 10 });
    },
  });
  return sim as unknown as Sim;
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('renderDiagram', () => {
  it('draws a column per node, arrows for messages, and marks faults, crashes, pauses and drops', async () => {
    const sim = await world();
    expect(sim.diagram()).toBe(
      [
        '        a     b     c     c0',
        '     0  ○     │     │     │       a→b #1 send "hi"',
        '     0  ○     │     │     │       a→c #2 send "yo"',
        '     0  │     │     │     □       c0 (p0) invoke read',
        '     0  │     │     │     ○       c0→a #3 request send {f:"read"}',
        '     1  │     │     ◆     │       G: pause c for 4 ms',
        '     2  ╰────▶●     ┆     │       a→b #1 "hi"',
        '     2  │     ◇     ┆     │       b {got:"hi"}',
        '     2  │     ○     ┆     │       b→a #4 send "back"',
        '     2  ●◀────┼─────┼─────╯       c0→a #3 request {f:"read"}',
        '     2  ○     │     ┆     │       a→c0 #5 reply send {type:"ok",value:1}',
        '     3  │     ⊗     ┆     │       C: crash b, restart after 3 ms',
        '     4  ●◀────╯     ┆     │       b→a #4 "back"',
        '     4  ◇     ·     ┆     │       a {got:"back"}',
        '     4  ╰───────────┼────▶●       a→c0 #5 reply {type:"ok",value:1}',
        '     4  │     ·     ┆     □       c0 (p0) ok read 1',
        '     5  ╰──────────▶●     │       a→c #2 "yo"',
        '     5  │     ·     ◇     │       c {got:"yo"}',
        '     6  │     ⊕     │     │       b restarts (boot 2, recovered)',
        '     7  ═══════════════════       L: lose 100% of messages',
        '     8  ◷     │     │     │       a timer "again"',
        '     8  ○     │     │     │       a→b #6 send "lost"',
        '     8  ╰╌╌╌╌╌✕     │     │       a→b #6 DROPPED: lost "lost"',
        '     8  ○     │     │     │       a→c #7 send "late"',
        '     8  ╰╌╌╌╌╌│╌╌╌╌╌✕     │       a→c #7 DROPPED: lost "late"',
        '     9  ═══════════════════       H: heal: every fault off',
      ].join('\n'),
    );
  });

  it('windows, hides sends, and falls back to ASCII', async () => {
    const sim = await world();
    expect(sim.diagram({ ascii: true, last: 6, hideSends: true })).toBe(
      [
        '        a     b     c',
        '        … 19 earlier events not shown',
        '     8  t     |     |       a timer "again"',
        '     8  \\.....x     |       a→b #6 DROPPED: lost "lost"',
        '     8  \\.....|.....x       a→c #7 DROPPED: lost "late"',
        '     9  =============       H: heal: every fault off',
      ].join('\n'),
    );
    expect(sim.log({ from: 23, to: 25 })).toBe(['8  drop     a→c #7 DROPPED: lost "late"', '9  fault    H: heal: every fault off'].join('\n'));
  });

  it('with onlyNodes, shows only what happens at the named nodes (and their messages to others)', async () => {
    const sim = await world();
    expect(sim.diagram({ ascii: true, nodes: ['c'], onlyNodes: true })).toBe(
      [
        '        c     a',
        '     0  |     o       a→c #2 send "yo"',
        '     1  #     |       G: pause c for 4 ms',
        '     5  *<----/       a→c #2 "yo"',
        '     5  .     |       c {got:"yo"}',
        '     7  =======       L: lose 100% of messages',
        '     8  |     o       a→c #7 send "late"',
        '     8  x...../       a→c #7 DROPPED: lost "late"',
        '     9  =======       H: heal: every fault off',
      ].join('\n'),
    );
  });

  it('with indexes, draws only those events and one row for each run of skipped ones, with the columns kept', async () => {
    const sim = await world();
    expect(sim.diagram({ indexes: [1, 5, 11, 12, 13, 22], gapNote: (k) => `#${k.join(',')}` })).toBe(
      [
        '        a     b     c     c0',
        '        … 1 earlier event not shown: #0',
        '     0  ○     │     │     │       a→c #2 send "yo"',
        '        │     │     ┆     │       … 3 events not shown: #2,3,4',
        '     2  ╰────▶●     ┆     │       a→b #1 "hi"',
        // b crashed among the skipped events: its column says so.
        '        │     ·     ┆     │       … 5 events not shown: #6,7,8,9,10',
        '     4  ●◀────╯     ┆     │       b→a #4 "back"',
        '     4  ◇     ·     ┆     │       a {got:"back"}',
        '     4  ╰───────────┼────▶●       a→c0 #5 reply {type:"ok",value:1}',
        '        │     │     │     │       … 8 events not shown: #14,15,16,17,18,19,20,21',
        '     8  ○     │     │     │       a→c #7 send "late"',
        '        │     │     │     │       … 2 later events not shown: #23,24',
      ].join('\n'),
    );
    expect(sim.log({ indexes: [5, 11, 99] })).toBe(['2  deliver  a→b #1 "hi"', '4  deliver  b→a #4 "back"'].join('\n'));
    // Every other option still applies (the two sends are hidden as ever; the row counts the three skipped).
    expect(sim.diagram({ indexes: [0, 1, 5], hideSends: true, ascii: true, to: 6 })).toBe(
      ['        a     b     c', '        … 3 earlier events not shown', '     2  \\---->*     :       a→b #1 "hi"'].join('\n'),
    );
  });

  it('with indexes, counts the events not kept in the row before the first one drawn', () => {
    const t = new Trace(['a', 'b'], 4);
    for (let i = 0; i < 10; i++) t.record(K.note, i, i % 2, -1, 0, -1, undefined, i);
    expect(renderDiagram(t, { indexes: [7, 9] })).toBe(
      ['        a     b', '        … 1 earlier event not shown (the 6 before it not kept)', '     7  │     ◇       b 7', '        │     │       … 1 event not shown', '     9  │     ◇       b 9'].join(
        '\n',
      ),
    );
    expect(renderDiagram(t, { indexes: [6, 8] })).toBe(
      ['        a     b', '        … 6 earlier events not kept', '     6  ◇     │       a 6', '        │     │       … 1 event not shown', '     8  ◇     │       a 8', '        │     │       … 1 later event not shown'].join(
        '\n',
      ),
    );
  });

  it('colours only when asked, and never under NO_COLOR', async () => {
    const sim = await world();
    expect(sim.diagram()).not.toContain('\u001b[');
    vi.stubEnv('NO_COLOR', '');
    expect(sim.diagram({ color: true })).toContain('\u001b[31m');
    vi.stubEnv('NO_COLOR', '1');
    expect(sim.diagram({ color: true })).not.toContain('\u001b[');
  });
});
