import { describe, expect, it } from 'vitest';
import { causalView, mentionedNodes, mentionedTimes, quotedStrings } from './causal.ts';
import { renderDiagram } from './render.ts';
import { simulate, type Sim } from './sim.ts';
import { K, Trace, type TraceEvent } from './trace.ts';
import type { Ctx, NodeId, Proc } from './types.ts';

type Msg = { kind: 'heartbeat' | 'ack' | 'elect' | 'ping'; gen?: number; round?: number; n?: number };

/**
 * a leads generation 1 and sends b and c a heartbeat every 5 ms; they answer with an ack carrying their own
 * generation. At t=12, c tells b about generation 2, once: from then on b's acks say generation 2, and a
 * ignores them (the bug). d and e chat on their own, never with a, b or c.
 */
class Node implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  private gen = 1;
  private round = 0;
  private n = 0;
  constructor(private readonly id: NodeId) {}
  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    if (this.id === 'a' || this.id === 'd') ctx.setTimer(5, 'beat');
    if (this.id === 'c') ctx.setTimer(12, 'campaign');
  }
  onTimer(tag: string): void {
    if (tag === 'campaign') {
      this.gen = 2;
      this.ctx.send('b', { kind: 'elect', gen: 2 });
      return;
    }
    if (this.id === 'a') {
      this.round++;
      this.ctx.send('b', { kind: 'heartbeat', gen: 1, round: this.round });
      this.ctx.send('c', { kind: 'heartbeat', gen: 1, round: this.round });
    } else this.ctx.send('e', { kind: 'ping', n: ++this.n });
    this.ctx.setTimer(5, 'beat');
  }
  onMessage(from: NodeId, m: Msg): void {
    if (m.kind === 'elect') this.gen = m.gen ?? this.gen;
    else if (m.kind === 'heartbeat') this.ctx.send(from, { kind: 'ack', gen: this.gen, round: m.round ?? 0 });
    else if (m.kind === 'ping' && this.id === 'e') this.ctx.send(from, { kind: 'ping', n: m.n ?? 0 });
  }
}

async function run(until = 500): Promise<Sim> {
  const { sim } = await simulate({ seed: 7, nodes: ['a', 'b', 'c', 'd', 'e'], proc: (id) => new Node(id), network: { latency: { dist: 'uniform', min: 1, max: 3 } } }, { until });
  return sim as unknown as Sim;
}

const find = (sim: Sim, p: (e: TraceEvent) => boolean): TraceEvent => {
  const e = sim.trace.events().find(p);
  if (e === undefined) throw new Error('no such event');
  return e;
};

/** Where a failure about a and b was found: right after a's last event. */
function endAtA(sim: Sim): number {
  const last = sim.trace.events().findLast((e) => e.node === 'a');
  if (last === undefined) throw new Error('a did nothing');
  return last.index + 1;
}

/** The report's diagram for that failure: the rows from causalView. */
function diagram(sim: Sim, budget = 41): { text: string; indexes: readonly number[]; end: number } {
  const end = endAtA(sim);
  const v = causalView(sim.trace, end, { budget, nodes: ['a', 'b'] });
  return { text: renderDiagram(sim.trace, { nodes: sim.nodes, to: end, indexes: v.indexes, gapNote: v.gapNote }), indexes: v.indexes, end };
}

describe('causalView', () => {
  it('shows the decisive message hundreds of events back, and collapses the heartbeat noise', async () => {
    const sim = await run();
    const end = endAtA(sim);
    const elect = find(sim, (e) => e.kind === 'deliver' && (e.data as Msg).kind === 'elect');
    const firstGen2Ack = find(sim, (e) => e.kind === 'deliver' && e.node === 'a' && (e.data as Msg).kind === 'ack' && (e.data as Msg).gen === 2);
    expect(end - firstGen2Ack.index).toBeGreaterThan(500);
    const { text, indexes } = diagram(sim);
    expect(indexes).toContain(elect.index);
    expect(indexes).toContain(firstGen2Ack.index);
    expect(text).toContain(`c→b #${elect.msg} {kind:"elect",gen:2}`);
    expect(indexes).toContain(end - 1);
    // Within the budget: the header, then at most 41 rows, the `… not shown` ones included.
    const rows = text.split('\n').slice(1);
    expect(rows.length).toBeLessThanOrEqual(41);
    // The repeated heartbeats and acks are told as repeats; round, which counts up, does not make them new.
    const beats = rows.filter((r) => r.includes('{kind:"heartbeat"') && !r.includes(' send '));
    expect(beats.length).toBeLessThanOrEqual(10);
    expect(text).toMatch(/… \d+ events not shown: \d+ repeats \((heartbeat|ack|beat timers)/);
    // d and e never talked to a, b or c: none of their chatter shows, and the rows that skip it say so.
    expect(rows.some((r) => /[de]→[de] /.test(r))).toBe(false);
    expect(text).toMatch(/\d+ outside its causal past/);
    // Every skipped event is counted: rows shown plus the counts in the `… N events not shown` rows make the whole trace.
    const skipped = rows.reduce((s, r) => s + Number(/… (\d+) (?:earlier |later )?events? not shown/.exec(r)?.[1] ?? 0), 0);
    expect(skipped + indexes.length).toBe(end);
  });

  it('is deterministic: the same run gives the same rows, byte for byte', async () => {
    const one = diagram(await run()).text;
    const two = diagram(await run()).text;
    expect(two).toBe(one);
  });

  it('keeps to any budget of rows, always showing the last event', async () => {
    const sim = await run(200);
    for (const budget of [2, 3, 5, 12, 41, 100]) {
      const { text, indexes, end } = diagram(sim, budget);
      expect(text.split('\n').length - 1).toBeLessThanOrEqual(budget);
      expect(indexes).toContain(end - 1);
      expect([...indexes].sort((x, y) => x - y)).toEqual(indexes);
    }
  });

  it('shows everything when everything fits', async () => {
    const sim = await run(12);
    const n = sim.trace.length;
    expect(n).toBeLessThan(41);
    expect(causalView(sim.trace, n).indexes).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('shows a message lost for good, the resend of it and its fate, far behind the last events', () => {
    // a sends b "x" once, it is lost, a resends it once, lost again; meanwhile a and c exchange heartbeats.
    const t = new Trace(['a', 'b', 'c'], Infinity);
    let msg = 0;
    let time = 0;
    const send = (from: number, to: number, data: unknown, fate: 'deliver' | 'lost'): void => {
      const id = ++msg;
      t.record(K.send, time, from, to, id, 0, undefined, data);
      if (fate === 'lost') t.record(K.drop, time, to, from, id, 0, 'lost', data);
      else t.record(K.deliver, time + 1, to, from, id, 0, undefined, data);
    };
    send(0, 1, { kind: 'data', seq: 1, body: 'x' }, 'lost');
    const lost = t.length - 1;
    let resent = -1;
    for (let i = 0; i < 300; i++) {
      time += 5;
      t.record(K.timer, time, 0, -1, 0, -1, undefined, 'beat');
      send(0, 2, { kind: 'heartbeat', round: i }, 'deliver');
      send(2, 0, { kind: 'ack', round: i }, 'deliver');
      if (i === 10) {
        send(0, 1, { kind: 'data', seq: 1, body: 'x' }, 'lost');
        resent = t.length - 1;
      }
    }
    expect(t.length - resent).toBeGreaterThan(1000);
    const v = causalView(t, t.length, { nodes: ['b'] });
    expect(v.indexes).toContain(lost);
    expect(v.indexes).toContain(resent);
    const text = renderDiagram(t, { indexes: v.indexes, gapNote: v.gapNote });
    expect(text).toContain('a→b #1 DROPPED: lost {kind:"data",seq:1,body:"x"}');
  });

  it('shows what happened at the times the failure names, and the events carrying the strings it quotes', async () => {
    const sim = await run(300);
    const end = endAtA(sim);
    const at100 = sim.trace.events().filter((e) => e.time === 100 && e.node === 'a');
    expect(at100.length).toBeGreaterThan(0);
    const v = causalView(sim.trace, end, { nodes: ['a'], times: [100] });
    for (const e of at100) expect(v.indexes).toContain(e.index);
    const w = causalView(sim.trace, end, { nodes: ['a'], values: ['elect'] });
    const elect = find(sim, (e) => e.kind === 'deliver' && (e.data as Msg).kind === 'elect');
    expect(w.indexes).toContain(elect.index);
  });
});

describe('what a failure names', () => {
  it('finds the endpoints named as words, the times, and the quoted strings', () => {
    const why = 'safety violated at t=405.175 ms: a served a read that returned "w3" at t=405.175 ms, but generation 2 (b, nominated at t=130 ms) ruled; p1:a and "say \\"hi\\""';
    expect(mentionedNodes(why, ['a', 'b', 'c', 'p1', 'p2', 'c0'])).toEqual(['a', 'b', 'p1']);
    expect(mentionedTimes(why)).toEqual([405.175, 405.175, 130]);
    expect(quotedStrings(why)).toEqual(['w3', 'say "hi"']);
    expect(mentionedNodes('nodes n10 and n2', ['n1', 'n2'])).toEqual(['n2']);
  });
});
