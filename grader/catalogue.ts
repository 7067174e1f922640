// The course catalogue: every chapter and exercise in order. The single source of truth for what exists.
//
// An exercise id is `<chapter slug>/<exercise slug>`, and that id is its path in every tree
// (course/, exercises/, solutions/, grader/tests/, grader/mutants/). `dlab verify` proves each one sound.

/** A seed topic key from CURRICULUM.md (`004:Q1`, `001#13`, `002:DP3`, ...). */
export type TopicKey = string;

export type ExerciseKind =
  /** Pure functions checked with fast-check properties. */
  | 'pure'
  /** Nodes run in the deterministic simulator under a fault schedule. */
  | 'simulation'
  /** Real sockets on loopback (node:net, node:tls, node:http). */
  | 'sockets';

export interface ExerciseEntry {
  /** `MM-name`, unique within its chapter. */
  readonly slug: string;
  readonly title: string;
  readonly kind: ExerciseKind;
  /** The seed topics this exercise covers (CURRICULUM.md keys). */
  readonly topics: readonly TopicKey[];
  /** Three progressive hints: a nudge, the idea, the near-answer. */
  readonly hints: readonly [nudge: string, idea: string, nearAnswer: string];
  /** Known-wrong variants kept under grader/mutants/<id>/<name>.patch, each planting one classic bug. */
  readonly mutants: readonly string[];
  /**
   * For a multi-file exercise: the files inside `exercises/<id>/` (and `solutions/<id>/`), `index.ts` first.
   * Absent for a one-file exercise (`exercises/<id>.ts`).
   */
  readonly files?: readonly string[];
  /** Wall-clock limit for one test of this exercise, in ms (default 10 000). */
  readonly limitMs?: number;
}

export interface ChapterEntry {
  /** `NN-name`: the chapter's folder in every tree. */
  readonly slug: string;
  readonly title: string;
  readonly exercises: readonly ExerciseEntry[];
}

export const CATALOGUE: readonly ChapterEntry[] = [
  {
    slug: '01-foundations',
    title: 'Ordering, epochs, retries, commit timestamps',
    exercises: [
      {
        slug: '00-network-lies',
        title: 'The network lies: a reliable, ordered link',
        kind: 'simulation',
        topics: ['001#17', '002:DB4', '000#4'],
        hints: [
          'Read the first failure: which payload went missing or arrived twice, and what happened to its frame in the ' +
            'diagram? A frame sent once may never arrive, so the sender must keep every payload until the peer confirms it.',
          'Number payloads per peer (1, 2, 3, ...). The sender keeps unacknowledged frames and resends them on a timer ' +
            'until a cumulative ack covers them. The receiver delivers only the next number it expects, holds frames that ' +
            'arrive after a gap, never delivers a number at or below what it already delivered, and always acks the ' +
            'highest number it delivered in order, duplicates included.',
          "sendReliable: seq = ++lastSeq[to]; unacked[to].set(seq, p); send {kind:'data', seq, payload}; if no timer for " +
            "`to`, setTimer(30, 'retransmit:' + to). onMessage ack: delete every seq <= upTo from unacked[from]; if none " +
            'left, cancel the timer. onMessage data: if seq <= delivered[from] do nothing; else if seq > delivered + 1 ' +
            'buffer it; else deliver it, then deliver buffer[seq+1], buffer[seq+2], ... while present, and advance ' +
            "delivered. Then send {kind:'ack', upTo: delivered[from]}. onTimer: resend every unacked frame to the peer " +
            'and set the timer again.',
        ],
        mutants: ['no-reorder-buffer', 'dedup-only-last-seq', 'retransmit-once', 'one-counter-for-all-peers', 'ack-what-arrived'],
        limitMs: 10_000,
      },
    ],
  },
  {
    slug: '03-time-and-causality',
    title: 'Time & causality',
    exercises: [
      {
        slug: '01-vector-clocks',
        title: 'Vector clocks: detecting concurrency',
        kind: 'pure',
        topics: ['002:DP3', '001#10', '000#8', '000#10'],
        hints: [
          'A vector clock is a map from node id to a counter, and a node that is missing from the map has counter 0. ' +
            'Write a helper that reads an entry with that default and use it everywhere, including in vcCompare.',
          'a happened before b exactly when every entry of a is <= the same entry of b and at least one is strictly smaller. ' +
            'If neither is <= the other, they are concurrent. A total order such as the sum of entries cannot express that.',
          'In stampTrace keep one clock per node. Local and send events: tick your own entry. A receive event: merge the ' +
            "sender's clock (the clock of the matching send) into yours, entry-wise max, and then tick your own entry, " +
            'so the receive is strictly after the send.',
        ],
        mutants: ['compare-by-sum', 'receive-without-tick', 'missing-entry-undefined'],
        limitMs: 5_000,
      },
    ],
  },
];
