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
   * A mutant's classic mistake in plain words, for the line `dlab check` adds when a learner's failure looks like
   * that mutant's ("This looks like a classic mistake: <words>"). Without an entry, the words come from the
   * mutant's name (`fire-and-forget` -> "fire and forget"). Words about the mistake, never about the fix.
   */
  readonly mutantNotes?: Readonly<Record<string, string>>;
  /**
   * For a multi-file exercise: the files inside `exercises/<id>/` (and `solutions/<id>/`), `index.ts` first.
   * Absent for a one-file exercise (`exercises/<id>.ts`).
   */
  readonly files?: readonly string[];
  /**
   * CPU time one test of this exercise may use, in ms (default 5 000); a wait that never settles is stopped
   * after twice that in wall time, not counting time spent waiting for a CPU (grader/runner/worker.mjs).
   */
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
          'Number payloads per peer (1, 2, 3, ...). The sender keeps unacknowledged frames until a cumulative ack covers ' +
            'them, and on a timer resends the oldest one: the ack says the peer is missing exactly that one, and the ' +
            'frames behind it wait in its reorder buffer, so resending the whole backlog every tick only floods a peer ' +
            'that is cut off. The receiver delivers only the next number it expects, holds frames that arrive after a ' +
            'gap (has(), not get() !== undefined: a payload may be undefined), never delivers a number at or below ' +
            'what it already delivered, and always acks the highest number it delivered in order, duplicates included.',
          "sendReliable: seq = ++lastSeq[to]; unacked[to].set(seq, p); send {kind:'data', seq, payload}; if no timer for " +
            "`to`, setTimer(30, 'retransmit:' + to). onMessage ack: delete every seq <= upTo from unacked[from]; if none " +
            'left, cancel the timer. onMessage data: if seq <= delivered[from] do nothing; else if seq > delivered + 1 ' +
            'buffer it; else deliver it, then deliver buffer[seq+1], buffer[seq+2], ... while present, and advance ' +
            "delivered. Then send {kind:'ack', upTo: delivered[from]}. onTimer: resend the first entry of unacked[peer] " +
            '(a Map keeps insertion order) and set the timer again.',
        ],
        mutants: [
          'fire-and-forget',
          'no-reorder-buffer',
          'dedup-only-last-seq',
          'retransmit-once',
          'one-counter-for-all-peers',
          'ack-what-arrived',
          'retransmit-too-slowly',
          'resend-backlog-every-tick',
          'resend-on-every-ack',
          'undefined-payload-stalls',
          'dedup-by-value',
        ],
        mutantNotes: {
          'fire-and-forget': 'each payload is sent once and never again, so a lost frame is lost for good',
          'no-reorder-buffer': 'a frame that arrives after a gap is delivered at once, ahead of the ones still missing',
          'dedup-only-last-seq': 'only a copy of the very last delivered frame is treated as a duplicate',
          'retransmit-once': 'a frame is resent once, and never again if that copy is lost too',
          'one-counter-for-all-peers': 'one sequence counter is shared by every peer, so each peer sees gaps that never fill',
          'ack-what-arrived': 'the ack names the frame that just arrived, not the last one delivered in order',
          'retransmit-too-slowly': 'the retransmit timer waits longer than the 100 ms the lesson allows',
          'resend-backlog-every-tick': 'every tick resends the whole backlog, a retransmission storm while the peer is cut off',
          'resend-on-every-ack': 'every ack resends everything still unacknowledged, so acks breed more frames',
          'undefined-payload-stalls': 'an undefined payload in the reorder buffer is taken for a missing frame, so delivery stalls',
          'dedup-by-value': 'a payload equal to the one before it is taken for a duplicate',
        },
      },
      {
        slug: '01-lamport-ordering',
        title: 'Lamport clocks: replaying events in causal order',
        kind: 'simulation',
        topics: ['004:Q1', '000#8', '002:DP3', '001#13'],
        hints: [
          'Start with the two small properties: compareTs and LamportClock are checked on their own, and everything else ' +
            'rests on them. Then read the first simulation failure: which two events, and which rule (same node, already ' +
            'stored there, same client) says that one happened before the other?',
          'One counter per node. tick and send add one; recv(r) sets the counter to max(own, r.c) + 1, so the receive comes ' +
            'after the send and after everything the node did before. Stamp an append with tick(), or with recv(clientCtx) ' +
            'when the client passes its last timestamp, and call recv for every message that arrives. Sort by (c, node). ' +
            'An event is stable once every peer has sent you a greater timestamp (the links are FIFO), so advertise your ' +
            'clock on a timer even when idle.',
          "init: clock = new LamportClock(ctx.id); setTimer(HEARTBEAT_MS, 'heartbeat'). onTimer('heartbeat'): ts = " +
            "clock.send(); link.sendReliable(peer, { kind: 'clock', ts }) for each peer; set the timer again. append: ts = " +
            'clientCtx ? clock.recv(clientCtx) : clock.tick(); insert { ts, event } into a list kept sorted by compareTs; ' +
            "sendReliable { kind: 'event', stored } to each peer; return ts. deliver: clock.recv(the message's ts); " +
            'heard.set(from, ts); if it is an event, insert it. replay: a copy of the list. stableReplay: once every peer ' +
            'is in heard, bound = the smallest heard ts; return the leading events with compareTs(e.ts, bound) < 0.',
        ],
        mutants: [
          'wall-clock-timestamps',
          'recv-without-max',
          'recv-without-plus-one',
          'stable-after-any-peer',
          'receive-does-not-advance-clock',
          'replay-in-arrival-order',
          'ignores-client-context',
          'advertises-every-100-ms',
          'advertises-every-5-ms',
          'node-ids-by-locale',
          'counter-wraps-at-32-bits',
        ],
        mutantNotes: {
          'advertises-every-100-ms': 'clock adverts go out less often than every 50 ms, so events become stable late',
          'advertises-every-5-ms': 'clock adverts go out every few milliseconds, far more traffic than stability needs',
          'node-ids-by-locale': "equal counters are ordered by the locale's collation of node ids, not as plain strings",
          'counter-wraps-at-32-bits': 'the counter is kept in 32 bits and wraps to a negative number past 2^31 - 1',
        },
      },
      {
        slug: '02-fencing-stale-leaders',
        title: 'Fencing stale leaders: generations and leases',
        kind: 'simulation',
        topics: ['004:Q2', '000#6', '000#11', '001#2', '001#11'],
        hints: [
          'Read the first failure: which node acted, as the leader of which generation, and when had the newer one been ' +
            'elected? At that moment, could the old leader\'s lease still have been running, and which node had helped it ' +
            'to that lease and then promised the new generation too?',
          'Say a is cut off at t=100. Its last round went out at t=90 and c answered it, so a may act until t=190 by its ' +
            'clock. b is nominated at t=130. If c promises b at once, b leads while a still serves reads. So an answer is ' +
            'itself a promise: c must not vote for anyone until 105 ms after its last answer to a, by its own monotonic ' +
            'clock (a 100 ms lease on a clock 1 % slow, measured on a clock 1 % fast, is 102.03 ms). c adopts generation 2 ' +
            'at once all the same, so that it refuses a from then on; and a restarted c cannot know what it answered ' +
            'before its crash, so it waits 105 ms after boot. The rest is fencing: every message carries its generation, ' +
            'a higher one is written to disk and fsynced before use, a lower one is refused with the higher one in reply.',
          "campaign(gen): persist(gen), role = candidate, ask { kind: 'vote-request', gen } of every peer now and every " +
            '20 ms. A node votes (and counts its own vote) only if monoNow() >= boundUntil; answering a heartbeat or a ' +
            'write sets boundUntil = monoNow() + 105, and so does starting a round (its own answer); init sets it to ' +
            'monoNow() + 105 when the disk holds a generation. A majority of votes: role = leader, start a round at once. ' +
            'onMessage: msg.gen > maxGen: persist it (write + fsync) and step down (pending writes resolve false). gen < ' +
            "maxGen on a heartbeat, replicate or vote-request: reply { kind: 'reject', gen: maxGen }. heartbeat-ok for your " +
            'gen: at a majority, leaseUntil = max(leaseUntil, round.sentAt + 100). write: resolve true once a majority stored ' +
            'it and monoNow() < leaseUntil, false after 100 ms; read: the last acknowledged value, only while monoNow() < ' +
            'leaseUntil.',
        ],
        mutants: [
          'follower-ignores-gen',
          'heartbeats-unfenced',
          'gen-in-memory-only',
          'gen-written-not-fsynced',
          'ignores-higher-gen-replies',
          'lease-from-ack-arrival',
          'write-ack-without-lease',
          'lease-on-wall-clock',
          'leader-without-promises',
          'vote-ignores-promise',
          'promise-forgotten-on-restart',
          'writes-never-settle-on-step-down',
          'answers-before-persisting',
          'lease-from-votes-arrival',
        ],
      },
      {
        slug: '03-idempotency-keys',
        title: 'Idempotency keys: a retried payment is applied once',
        kind: 'simulation',
        topics: ['004:Q4', '000#4', '000#12', '001#4'],
        hints: [
          'Read the first failure: which payment went on the statement twice, and what happened between the two times in ' +
            'the diagram (a lost answer, a crash, a copy arriving late)? To a server that remembers nothing, a retry looks ' +
            'exactly like a new payment.',
          'The client mints one key per payment, (a random clientId per client instance, seq), and repeats it on every ' +
            'retry. The server applies the payment and saves its answer in ONE durable record before replying (a crash can ' +
            'strike between any two disk operations, so two writes can leave one without the other), answers a ' +
            'repeated key with the saved answer (422 if the payment differs, 409 while the first attempt is still being ' +
            'authorised), and forgets answers below the client\'s ackedBelow, refusing those seqs with 410 for good. At ' +
            'recovery, a torn last record is cut off the file itself, not just skipped, before anything is appended again.',
          'Server: sessions: clientId -> { floor, saved: seq -> { payment, response } }; inFlight: Set. onRequest: floor = ' +
            'max(floor, ackedBelow), drop saved seqs below it; seq < floor -> 410; saved -> same payment ? saved.response : 422; ' +
            'inFlight -> 409; else add to inFlight, await ctx.sleep(AUTH_MS), remove, response = { status: 200, entry: ' +
            'lines + 1, balance }, append JSON { clientId, seq, ackedBelow, payment, response } + "\\n", fsync, apply it ' +
            'to memory, reply. init: if the log does not end with a newline, write back the part up to its last newline and ' +
            'fsync it (a torn record, cut off on disk), then replay every line the same way. Client: clientId = 12 random hex ' +
            'digits; pay: seq = ++n once, then loop { res = await send(req, 60); if res && res.status !== 409 return res; ' +
            'await sleep(backoff) } with backoff 20 ms doubling to 200 ms.',
        ],
        mutants: [
          'volatile-dedup-table',
          'answer-saved-separately',
          'new-key-per-retry',
          'no-in-flight-guard',
          'payload-not-compared',
          'stale-key-runs-again',
          'recomputed-answer',
          'ack-before-fsync',
          'answers-never-forgotten',
          'two-durable-writes',
          'torn-tail-not-truncated',
          'dedup-by-content',
        ],
      },
      {
        slug: '04-2pc-timestamps',
        title: 'Two-phase commit with one commit timestamp',
        kind: 'simulation',
        topics: ['004:Q3', '000#5', '002:DP4', '001#8'],
        hints: [
          'Find the transaction named in the first failure: at which timestamp did each participant store it, and which ' +
            'read, served earlier, did it slip under? Then look at what each participant had seen before it proposed its ' +
            'timestamp.',
          'Each participant proposes a prepare timestamp above everything it has seen: versions it installed, reads it ' +
            'served, commit timestamps it was told (one Lamport clock does all three). The coordinator commits at the ' +
            'maximum of the proposals; every participant installs at that one commitTs and moves its clock past it. A read ' +
            'at ts waits while a transaction prepared at or below ts is undecided, and the clock\'s high point is on disk ' +
            'before anyone relies on it. Every vote and every decision is durable before it is sent, and a participant ' +
            'still knows after a crash what it decided: a copy of an old prepare, arriving late, must not lock again.',
          'Participant: clock, ceiling (durable: write ceiling = clock + 1000 whenever clock passes it; at boot clock = ' +
            'max(ceiling, every timestamp in the log)), versions per key, locks, prepared, decided (a set). prepare: prepared -> the same vote; decided or ' +
            'locked -> no; else prepareTs = ++clock, lock, append+fsync, vote yes. commit: if prepared, append+fsync, insert ' +
            '{ ts: commitTs, value } per key, clock = max(clock, commitTs), unlock, wake waiters, add to decided; answer done. ' +
            'abort: if not decided, append+fsync an abort record (also when it was never prepared here), unlock, add to ' +
            'decided; answer done. init: if the log does not end with a newline, write back the part up to its last newline ' +
            'and fsync; replay prepare -> lock, commit -> install, abort -> unlock (both -> decided). readAt: clock = max(clock, ts); while some prepared ' +
            'txn on key has prepareTs <= ts await its decision; return the latest version <= ts. Coordinator: votes = ' +
            'Promise.all(rpc prepare until answered); any no -> abort all (until answered); commitTs = max(prepareTs); ' +
            'commit all (until answered); return { committed: true, commitTs }.',
        ],
        mutants: [
          'commit-ts-from-coordinator-clock',
          'install-at-prepare-ts',
          'no-clock-update-on-commit',
          'commit-ts-first-vote',
          'read-ignores-prepared',
          'read-ts-not-recorded',
          'prepared-only-in-memory',
          'clock-forgotten-on-restart',
          'abort-sent-once',
          'abort-not-replayed',
          'decided-forgotten-on-restart',
          'abort-unprepared-not-logged',
          'revote-on-duplicate-prepare',
          'revote-after-restart',
          'done-before-commit-durable',
          'torn-tail-not-truncated',
          'clock-from-ceiling-only',
        ],
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
            'agent; on response writeHead(status, filtered upRes.rawHeaders), upRes.pipe(res), and ' +
            "upRes.on('close', () => { if (!upRes.complete) res.destroy() }); upReq.setTimeout(upstreamTimeoutMs, () => " +
            'upReq.destroy(...)) that sets a flag; on upReq error, if no head went out yet send 504 (flag set) or 502, else res.destroy(); ' +
            "res.on('close', () => { if (!res.writableFinished) upReq.destroy() }); req.pipe(upReq). For mTLS pass " +
            '{ requestCert: true, rejectUnauthorized: true, ca: clientCa }. close(): server.close(), closeAllConnections(), agent.destroy().',
        ],
        mutants: ['buffers-response', 'mtls-unverified', 'upstream-leak-on-abort', 'connection-names-forwarded', 'short-body-as-success', 'no-upstream-timeout', 'total-deadline'],
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
            'owner = map.owner[partitionOf(key, map.partitions)]; every shard request gets a timer that destroys it after ' +
            'requestTimeoutMs (then 504; a refused connection 502); on 421 read { owner } from the body and retry once there, same body. ' +
            'Scan: Promise.allSettled over [...new Set(map.owner)], each request destroyed after scatterTimeoutMs; any failure -> 503; ' +
            'otherwise merge the items whose partition that shard owns, sort by key, answer {"items": [...]}.',
        ],
        mutants: ['hash-mod-shards', 'silent-partial-scan', 'accepts-older-map', 'no-key-timeout', 'one-socket-per-shard', 'redirect-drops-body', 'update-map-same-version'],
      },
      {
        slug: '03-secret-rotation',
        title: 'Rotating certificates and API keys without downtime',
        kind: 'sockets',
        topics: ['002:DO6'],
        hints: [
          'Closing the server and listening again is the one thing rotation must not do: open connections die and new ones ' +
            'are refused in the gap. Look in the Node tls docs for a way to change what *future* handshakes use. And when the ' +
            'kubelet updates a Secret volume, which path actually changes: tls.crt, or something next to it?',
          'A TLS server reads its secure context at each handshake, so swapping the context changes new connections and ' +
            'leaves established ones alone; the context is replaced whole, ca included. The kubelet never edits tls.crt: it ' +
            'renames a new ..data link over the old one, so watch the directory and read both files again on any event. For ' +
            'API keys, every replaced secret gets its own deadline, set by its last replacement; revocation overrides everything.',
          'Keep `current = { key, cert, ca }`; rotate: `next = { ...current, key, cert }; tls.createSecureContext(next)` (throws on ' +
            'a mismatched key) then `server.setSecureContext(next); current = next`. close(): server.close() plus ' +
            'closeAllConnections(). Watch: fs.watch(dir, reload), one reload at a time (a flag asks for one more), reload = read ' +
            'both files, skip if unchanged, `await server.rotate(pair)` inside try/catch; call it once before resolving. ' +
            'CredentialSet: current, a list of { secret, until } (drop the old entry of the secret you retire), a revoked list; ' +
            'accept: revoked -> false, current -> true, else some entry with now < until.',
        ],
        mutants: ['restart-listener', 'single-secret', 'never-retired', 'two-slots', 'inode-watch', 'forget-ca', 'rejected-rotate-corrupts-state', 'close-waits-for-clients'],
      },
      {
        slug: '04-api-gateway',
        title: 'An API gateway: discovery, safe retries and JSON/XML translation',
        kind: 'sockets',
        topics: ['004:Q7', '004:Q11'],
        hints: [
          'Three independent pieces: the Registry (pure, no sockets), the JSON/XML mapping (pure), and the gateway that ' +
            'uses both. Make the first two pass their properties before you open a socket. Then ask, for the gateway: what ' +
            'happens to a request when an instance accepts it and never answers, and what happens to the service when every ' +
            'request fails and wants a retry?',
          'A registry is only as good as its expiry: crashed instances never deregister, so a lease that is not renewed must ' +
            'lapse, for good. A retry is only safe if sending twice cannot do twice (GET yes, POST no, unless it never left), ' +
            'and only affordable within a budget: count requests in progress and retries in flight. Every attempt needs a ' +
            'deadline that also closes its connection; an instance that failed is skipped until a time, not for ever. In the ' +
            'XML mapping the type attribute says what a value is; never guess an array from how many children it has.',
          'Registry: Map svc -> Map id -> { inst, ttlMs, lastSeen }; live iff now < lastSeen + ttlMs; heartbeat refuses an ' +
            'expired one. Gateway: pool = live instances with ejectedUntil <= now (all of them if none is left), rotated by a ' +
            'per-service counter, sliced to 3; for each, try with setTimeout(() => req.destroy(), upstreamTimeoutMs); on ' +
            'refusal/reset/time-out/5xx set ejectedUntil = Date.now() + ejectMs and continue only if the method is idempotent ' +
            '(or the request never connected) and retriesInFlight < max(3, floor(inProgress * 20 / 100)). No answer: 504 after ' +
            'a time-out, else 502; a 5xx answer is passed on.',
        ],
        mutants: ['registry-never-expires', 'retries-post', 'single-item-array-collapses', 'no-retry-budget', 'ejects-forever', 'never-ejects', 'no-upstream-timeout', 'timeout-leaks-socket'],
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
        mutants: ['compare-by-sum', 'receive-without-tick', 'missing-entry-undefined', 'counter-wraps-at-32-bits'],
        mutantNotes: {
          'counter-wraps-at-32-bits': 'a counter is kept in 32 bits and wraps to a negative number past 2^31 - 1',
        },
      },
      {
        slug: '02-causal-broadcast',
        title: 'Causal broadcast: relay, hold back, deliver',
        kind: 'simulation',
        topics: ['002:DP3', '000#8', '000#15'],
        hints: [
          'Read the first failure: which message came too early (or never came), at which node, and what had its ' +
            'sender seen when it broadcast it? Follow that message back in the diagram: was it lost, overtaken, or held ' +
            'only by a node that crashed? A sequence number per sender says nothing about what the sender had delivered ' +
            'from the others.',
          "a broadcasts m1; b delivers m1 and then broadcasts m2; c receives m2 first. For c to wait, m2 must say what b " +
            "had delivered: stamp it { a: 1, b: 1 } (b's own entry is m2's number among b's broadcasts, every other entry " +
            "how many of that node's messages b had delivered). c holds m2 until b's entry is exactly one more than what c " +
            'delivered from b (more means a gap) and every other entry is <= what c delivered; when m1 arrives c delivers ' +
            'it and must look at the queue again, since m2 is now ready. Now let a send m1 to b only and die: c gets m1 only ' +
            'if b forwards it the first time it receives it, and keeps resending it to c until c acknowledges it.',
          "broadcast: vc = { ...delivered, [me]: (delivered[me] ?? 0) + 1 }; deliver it here (delivered[me] = vc[me], keep " +
            "it in a log); send { kind: 'data', msgs: [m] } to every peer. onMessage data: each m neither delivered " +
            '(vc[origin] <= delivered[origin]) nor already held goes to held, and the new ones go to every peer except `from` ' +
            'and their origin; then repeat until nothing moves: take a held m with vc[origin] === delivered[origin] + 1 and ' +
            'vc[k] <= delivered[k] for every other k, remove it, set delivered[origin] = vc[origin], log it, call deliver. ' +
            "Reply { kind: 'ack', delivered: { ...delivered } }. Ack: acked[from] = vcMerge(acked[from] ?? {}, delivered). " +
            'A timer every 30 ms while anything is unacknowledged sends each peer ONE data frame with the logged messages past ' +
            "acked[peer] for their origin (not the peer's own), in delivery order. pending() = held.length.",
        ],
        mutants: [
          'fifo-only',
          'deliver-over-a-gap',
          'no-relay',
          'relay-once',
          'no-cascade',
          'head-of-queue-only',
          'ack-what-arrived',
          'resend-each-message',
          'dedup-by-payload',
          'deps-from-received',
          'uncapped-backoff',
        ],
        mutantNotes: {
          'fifo-only': 'a message waits only for the earlier ones from its own sender, not for what that sender had delivered from others',
          'deliver-over-a-gap': 'a message is delivered when its number is at least the next one expected, so a gap is skipped',
          'no-relay': 'only the origin ever sends a message, so when it crashes after reaching some nodes the others never get it',
          'relay-once': 'a relayed message is sent once and never resent, so a relay lost while its origin is dead is lost for good',
          'no-cascade': 'one delivery per arrival: a held message made ready by a delivery waits for the next frame to come in',
          'head-of-queue-only': 'only the head of a sorted hold-back queue is tried, so a message that can never be delivered blocks the ones behind it',
          'ack-what-arrived': 'the ack counts held messages as delivered, so peers stop resending the gap in front of them',
          'resend-each-message': 'every resend puts each missing message in a frame of its own, every tick: a storm toward a peer that is cut off or dead',
          'dedup-by-payload': 'a message with the same payload as one already seen is taken for a duplicate',
          'deps-from-received': 'a broadcast depends on what the node received (held messages included), not on what it delivered',
          'uncapped-backoff': 'the resend wait toward a silent peer doubles without a cap, so after a long partition the peer waits longer than the heal allows',
        },
      },
      {
        slug: '03-hybrid-logical-clock',
        title: 'Hybrid logical clocks: causality within a bound of physical time',
        kind: 'simulation',
        topics: ['001#13', '000#8', '004:Q1', '004:Q3'],
        hints: [
          'Look at the two timestamps in the first failure and at pt when each was made. Which of the three times the ' +
            'clock knows (its pt, its own last l, the remote l) should have won, and did the counter belong to that winner?',
          "Say your clock stands at (1300, 2) because it adopted a faster peer's l, pt reads 1002, and a message stamped " +
            '(1002, 7) arrives. The largest l is yours, so the receive is (1300, 3): the 7 counted events at l = 1002, not ' +
            'at 1300. Had the message said (1300, 7), both timestamps own l = 1300: continue from the larger counter, ' +
            '(1300, 8). When pt reads 1301, past everything, no event sits at 1301 yet: (1301, 0). And a message stamped an ' +
            'hour ahead of pt is not time passing, it is a broken clock: refuse it before you change anything.',
          'now(): pt = this.pt(); if pt > l then l = pt, c = 0, else c += 1; return a new { l, c }. update(r): pt = ' +
            'this.pt(); if r.l > pt + maxOffsetMs throw new ClockOffsetError(r, pt, maxOffsetMs) (nothing changed yet); ' +
            'nl = max(l, r.l, pt); c = nl === l && nl === r.l ? max(c, r.c) + 1 : nl === l ? c + 1 : nl === r.l ? r.c + 1 : 0; ' +
            'l = nl; return a new { l, c }. hlcCompare: by l, then by c. Start with no timestamp issued (l = -Infinity).',
        ],
        mutants: [
          'no-c-reset-when-pt-advances',
          'update-ignores-local-l',
          'accepts-arbitrary-future-remote',
          'remote-c-when-local-l-wins',
          'compare-only-l',
          'throws-after-mutating-state',
          'now-reads-pt-twice',
          'offset-error-wrong-fields',
        ],
        mutantNotes: {
          'no-c-reset-when-pt-advances': 'the counter keeps growing after the physical clock has moved past l',
          'update-ignores-local-l': "a receive takes the remote's or the physical time and forgets the clock's own l",
          'accepts-arbitrary-future-remote': 'a remote timestamp far in the future is adopted instead of rejected',
          'remote-c-when-local-l-wins': "the remote counter is used although the clock's own l is larger than the remote l",
          'compare-only-l': 'timestamps are compared by l alone, so two with the same l and different c look equal',
          'throws-after-mutating-state': 'the clock changes its state before it rejects a remote timestamp',
          'now-reads-pt-twice': 'now() reads the physical clock once to compare and again to store, so a clock stepped back between the two reads issues a smaller timestamp',
          'offset-error-wrong-fields': 'the ClockOffsetError carries the measured offset where the limit maxOffsetMs belongs',
        },
      },
      {
        slug: '04-clock-bound-wait',
        title: 'Bounded clocks and commit wait: TrueTime in miniature',
        kind: 'simulation',
        topics: ['001#13', '000#14', '004:Q3'],
        hints: [
          'Read the first failure: did a node\'s interval miss the true time (which edge did it cross, and how long ago ' +
            'was its sample taken?), or did an operation that started after another had returned see an earlier ' +
            'timestamp? A request and its answer need not take equal times, and a clock right a minute ago has drifted since.',
          'One exchange gives offset = ((t1 - t0) + (t2 - t3)) / 2 and delay = (t3 - t0) - (t2 - t1); the true offset is ' +
            'within delay / 2 of it, because the request and the answer split the delay in some unknown way. Between ' +
            'syncs add the drift bound times the local time elapsed. A put with timestamp ts = latest that returns before ' +
            'earliest has passed ts can be beaten by a later put on a node whose interval sits lower: wait until it has passed.',
          'estimateOffset: pick the sample with the smallest delay; error = delay / 2. IntervalClock.now(): s = lastSync(); ' +
            'undefined -> { -Infinity, Infinity }; else m = mono(), e = s.error + driftPpm / 1e6 * (m - s.atMono), ' +
            '{ m + s.offset - e, m + s.offset + e }. The node: in init and then every second or two (setTimer), ctx.rpc a ' +
            'few { kind: "time?", t0: monoNow() } to the time server, note t3 = monoNow() on each answer, and keep ' +
            '{ ...estimateOffset(samples), atMono: the earliest t0 } unless the old sync, grown by drift, is still narrower. ' +
            'put: wait for the first sync; ts = now().latest; write { key, ts, value } ' +
            'to the store and, at the same time, sleep until now().earliest > ts; return ts. get: ts = now().latest; sleep ' +
            'until now().earliest > ts; then read the newest version at or before ts.',
        ],
        mutants: ['error-zero', 'skip-commit-wait', 'no-drift-growth', 'get-skips-wait', 'timestamp-from-earliest', 'wall-clock-sync'],
        mutantNotes: {
          'error-zero': 'the offset estimate is taken as exact, with no error, although the two legs of an exchange may differ',
          'skip-commit-wait': 'a put returns as soon as its version is stored, before its timestamp has certainly passed',
          'no-drift-growth': 'the error stays what the last sync said, however long ago that sync was',
          'get-skips-wait':
            'a get returns before the timestamp it read at has certainly passed (now().earliest > ts, on the interval, not the wall ' +
            'clock), or reads at a timestamp below now().latest and misses a put that had returned',
          'timestamp-from-earliest': 'a put takes its timestamp from the low end of the interval, which may be earlier than the true time',
          'wall-clock-sync':
            'an interval that misses the true time. The usual causes: the exchanges or the interval measured on the wall clock (which ' +
            'can be set and jump); the error not grown by the drift bound since the t0 of the exchange it came from (an outage too); ' +
            "a drift bound below the clocks' real drift; an answer paired with another request's t0, or one exchange's offset with another's error",
        },
      },
    ],
  },
];
