// The simulator's only source of randomness: a seeded xoshiro128** generator that splits into named streams.

/** FNV-1a over the UTF-16 code units of `s`: a stable 32-bit hash for stream labels. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** splitmix32: spreads one 32-bit key into well-mixed state words. */
function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

const TWO_POW_32 = 4294967296;

/**
 * A deterministic pseudo-random stream. `split(label)` derives an independent stream from this stream's
 * key and the label only (not from how far this stream has been read), so adding a consumer of one
 * stream never shifts the numbers another stream produces.
 */
export class Rng {
  /** The 32-bit key this stream was derived from; `split` mixes it with a label. */
  readonly key: number;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    // Seeds are any safe integer: fold the high bits in so 2**32 + 1 and 1 differ.
    this.key = (Math.floor(seed / TWO_POW_32) ^ seed ^ 0x5bd1e995) >>> 0;
    const st = { x: this.key };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** An independent stream named `label` (for example `node:a` or `network`). */
  split(label: string): Rng {
    return new Rng(Math.imul(this.key ^ 0x27d4eb2f, 0x165667b1) ^ hashString(label));
  }

  /** The next 32 random bits as an unsigned integer. */
  next(): number {
    const s1 = this.s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r >>> 0;
  }

  /** A float in [0, 1) with 32 bits of precision. */
  float(): number {
    return this.next() / TWO_POW_32;
  }

  /** An integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.float() * items.length)] as T;
  }

  /** An exponentially distributed float with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float());
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
