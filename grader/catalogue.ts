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
    slug: '02-infrastructure-patterns',
    title: 'Sidecars, routers and gateways on real sockets',
    exercises: [
      {
        slug: '01-sidecar-tls',
        title: 'A TLS sidecar for a legacy app',
        kind: 'sockets',
        topics: ['004:Q8'],
        hints: [
          'Start with the smallest thing that works: https.createServer({ key, cert }) whose handler makes an http.request to the ' +
            'app and pipes req into it and the response back. Then go through the lesson\'s list one item at a time.',
          'A proxy is two HTTP conversations glued together. Headers that describe a connection (Connection, Keep-Alive, ' +
            'Transfer-Encoding, Proxy-*, TE, Upgrade, and whatever Connection names) stay on their hop; everything else is ' +
            'copied. Bodies are streams: pipe, never collect. And each side must learn when the other side dies.',
          'In the handler: build the upstream headers from req.rawHeaders minus hop-by-hop, set X-Forwarded-Proto: https and ' +
            'append req.socket.remoteAddress to X-Forwarded-For; upReq = http.request({ ..., agent }) with your own keep-alive ' +
            'agent; on response writeHead(status, filtered upRes.rawHeaders) and upRes.pipe(res); on upReq error send 502; ' +
            "res.on('close', () => { if (!res.writableFinished) upReq.destroy() }); req.pipe(upReq). For mTLS pass " +
            '{ requestCert: true, rejectUnauthorized: true, ca: clientCa }. close(): server.close(), closeAllConnections(), agent.destroy().',
        ],
        mutants: ['buffers-response', 'mtls-unverified', 'upstream-leak-on-abort'],
        limitMs: 15_000,
      },
      {
        slug: '02-shard-router',
        title: 'A shard router: the ambassador in front of a sharded store',
        kind: 'sockets',
        topics: ['004:Q9', '004:Q10', '000#3'],
        hints: [
          'Get single keys right first: decode the key from the path, find its partition with partitionOf, look up the owner ' +
            'in the map, and forward the request there with http.request. Scans and map changes come after.',
          'The map is the only truth about placement: partition -> owner, with a version. Never derive an owner from the number ' +
            'of shards. A newer version replaces the map; an older one is news from the past. A scan is only complete if every ' +
            'shard answered, so a missing shard must show in the answer.',
          'Keep `let map = o.map`; updateMap: `if (m.version > map.version) map = m`. Single key: ' +
            'owner = map.owner[partitionOf(key, map.partitions)]; on 421 read { owner } from the body and retry once there. ' +
            'Scan: Promise.allSettled over [...new Set(map.owner)], each request destroyed after scatterTimeoutMs; any failure -> 503; ' +
            'otherwise merge the items whose partition that shard owns, sort by key, answer {"items": [...]}.',
        ],
        mutants: ['hash-mod-shards', 'silent-partial-scan', 'accepts-older-map'],
        limitMs: 15_000,
      },
      {
        slug: '03-secret-rotation',
        title: 'Rotating certificates and API keys without downtime',
        kind: 'sockets',
        topics: ['002:DO6'],
        hints: [
          'Closing the server and listening again is the one thing rotation must not do: open connections die and new ones ' +
            'are refused in the gap. Look in the Node tls docs for a way to change what *future* handshakes use.',
          'A TLS server reads its secure context at each handshake, so swapping the context changes new connections and ' +
            'leaves established ones alone. For API keys the rule is an overlap: every replaced secret gets its own deadline, ' +
            'revocation overrides everything, and "two slots" (current + previous) is not enough when rotations come quickly.',
          'Keep `current = { key, cert, ca }`; rotate: `next = { ...current, key, cert }; tls.createSecureContext(next)` (throws on ' +
            'a mismatched key) then `server.setSecureContext(next); current = next` (pass ca again or mTLS breaks). ' +
            'CredentialSet: current secret, a list of { secret, until }, a revoked set; rotate pushes { current, now + overlapMs }; ' +
            'accept: revoked -> false, current -> true, else some retiring entry with now < until.',
        ],
        mutants: ['restart-listener', 'single-secret', 'never-retired'],
        limitMs: 15_000,
      },
      {
        slug: '04-api-gateway',
        title: 'An API gateway: discovery, safe retries and JSON/XML translation',
        kind: 'sockets',
        topics: ['004:Q7', '004:Q11'],
        hints: [
          'Three independent pieces: the Registry (pure, no sockets), the JSON/XML mapping (pure), and the gateway that ' +
            'uses both. Make the first two pass their properties before you open a socket.',
          'A registry is only as good as its expiry: crashed instances never deregister, so a lease that is not renewed must ' +
            'lapse, for good. A retry is only safe if sending twice cannot do twice: GET yes, POST no (unless it never left). ' +
            'In the XML mapping the type attribute says what a value is; never guess an array from how many children it has.',
          'Registry: Map svc -> Map id -> { inst, ttlMs, lastSeen }; live iff now < lastSeen + ttlMs; heartbeat refuses an ' +
            'expired one. Mapping: arrays are <k type="array"><item>..</item></k> even for one item. Gateway: order = live ' +
            'instances not ejected, rotated by a per-service counter; for each, try; on refusal/5xx eject it and continue only ' +
            "if the method is idempotent or the request never connected; translate with translator.toUpstream/fromUpstream.",
        ],
        mutants: ['registry-never-expires', 'retries-post', 'single-item-array-collapses'],
        limitMs: 15_000,
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
