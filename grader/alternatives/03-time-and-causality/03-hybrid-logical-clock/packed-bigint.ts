// Another design: l and c packed into one integer, l * 2^32 + c. Then the whole algorithm is a max:
// a new timestamp is the largest of (last + 1), (remote + 1) and (pt * 2^32), compared as one number.
// A BigInt, because l * 2^32 for real dates (1.7e12 ms) is far beyond Number.MAX_SAFE_INTEGER.

export type HLC = { readonly l: number; readonly c: number };

export class ClockOffsetError extends Error {
  constructor(
    readonly remote: HLC,
    readonly pt: number,
    readonly maxOffsetMs: number,
  ) {
    super(`remote timestamp l=${remote.l} is ${remote.l - pt} ms ahead of the physical clock (pt=${pt}); the limit is ${maxOffsetMs} ms`);
    this.name = 'ClockOffsetError';
  }
}

const SHIFT = 32n;
const pack = (t: HLC): bigint => (BigInt(t.l) << SHIFT) | BigInt(t.c);
const unpack = (p: bigint): HLC => ({ l: Number(p >> SHIFT), c: Number(p & ((1n << SHIFT) - 1n)) });
const max = (...xs: bigint[]): bigint => xs.reduce((a, b) => (b > a ? b : a));

export function hlcCompare(a: HLC, b: HLC): -1 | 0 | 1 {
  const x = pack(a);
  const y = pack(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export class HybridClock {
  private last = -1n; // nothing issued: last + 1 = 0 is below any pt * 2^32

  constructor(
    private readonly pt: () => number,
    private readonly maxOffsetMs: number,
  ) {}

  now(): HLC {
    this.last = max(this.last + 1n, BigInt(this.pt()) << SHIFT);
    return unpack(this.last);
  }

  update(remote: HLC): HLC {
    const pt = this.pt();
    if (remote.l > pt + this.maxOffsetMs) throw new ClockOffsetError(remote, pt, this.maxOffsetMs);
    this.last = max(this.last + 1n, pack(remote) + 1n, BigInt(pt) << SHIFT);
    return unpack(this.last);
  }
}
