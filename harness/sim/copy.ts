// Messages as a real network carries them: bytes, not shared objects. A sent message is copied when it is sent
// (so a sender that changes the object afterwards changes nothing in flight) and again for each delivery (so
// a receiver that changes what it got changes neither the other copy of a duplicate nor the trace).

/** Why a message cannot be sent: it holds something a network cannot carry. */
export class MessageNotData extends Error {
  private readonly what: string;
  /** Where in the message, innermost last: `.entries[3].cb`. */
  private at = '';
  constructor(what: string) {
    super(what);
    this.name = 'MessageNotData';
    this.what = what;
  }
  /** Prepends one step of the path (the copy adds them as it unwinds, so a message that copies fine pays nothing). */
  within(step: string): this {
    // A cycle would name the same step MAX_DEPTH times: the first few say enough.
    this.at = step + this.at;
    if (this.at.length > 60) this.at = this.at.slice(0, 60) + '…';
    this.message = `a message must be plain data, as on a real network: message${this.at} is ${this.what}`;
    return this;
  }
}

const MAX_DEPTH = 200;

/**
 * A deep copy of plain data: primitives, arrays, plain objects, Uint8Array and the other typed arrays,
 * ArrayBuffer, Map, Set, Date. An instance of another class is copied as a plain object of its own
 * enumerable fields (as structuredClone does: methods do not cross a network). Functions, symbols and
 * nesting deeper than MAX_DEPTH (a cycle) are refused with MessageNotData. Several times cheaper than
 * structuredClone for the small objects protocols send.
 */
export function copyMessage<T>(v: T): T {
  try {
    return copy(v, 0) as T;
  } catch (e) {
    if (e instanceof MessageNotData) throw e.within('');
    throw e;
  }
}

function copy(v: unknown, depth: number): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'function') throw new MessageNotData('a function');
    if (typeof v === 'symbol') throw new MessageNotData('a symbol');
    return v;
  }
  if (depth >= MAX_DEPTH) throw new MessageNotData(`nested more than ${MAX_DEPTH} levels deep (a cycle?)`);
  const d = depth + 1;
  if (Array.isArray(v)) {
    const out = new Array<unknown>(v.length);
    let i = 0;
    try {
      for (; i < v.length; i++) out[i] = copy(v[i], d);
    } catch (e) {
      throw e instanceof MessageNotData ? e.within(`[${i}]`) : e;
    }
    return out;
  }
  if (ArrayBuffer.isView(v)) return (v as unknown as { slice(): unknown }).slice();
  if (v instanceof ArrayBuffer) return v.slice(0);
  if (v instanceof Map) {
    const out = new Map();
    for (const [k, x] of v) out.set(copy(k, d), copy(x, d));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    for (const x of v) out.add(copy(x, d));
    return out;
  }
  if (v instanceof Date) return new Date(v.getTime());
  // for-in is the quickest walk V8 offers here; class methods are not enumerable, so they are not copied.
  const out: Record<string, unknown> = {};
  let key = '';
  try {
    for (key in v) out[key] = copy((v as Record<string, unknown>)[key], d);
  } catch (e) {
    throw e instanceof MessageNotData ? e.within(`.${key}`) : e;
  }
  return out;
}
