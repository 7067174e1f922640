// The built-in models: a register, a compare-and-set register, and a key-value store checked per key.
import { printEdn } from '../history/edn.ts';
import type { Operation } from '../history/operations.ts';
import type { AnyModel, Decoded, Model, StateKey } from './model.ts';

/** Structural equality of history values (primitives, arrays, plain objects). */
export function valueEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    // EDN reads big integers as bigints and small ones as numbers; the same integer is one value.
    if (typeof a === 'number' && typeof b === 'bigint') return Number.isInteger(a) && BigInt(a) === b;
    if (typeof a === 'bigint' && typeof b === 'number') return Number.isInteger(b) && a === BigInt(b);
    return false;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!valueEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !valueEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** A memo key for a history value: primitives stand for themselves, structures for a canonical print. */
export function valueKey(v: unknown): StateKey {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return v;
    case 'bigint':
      return Number.isSafeInteger(Number(v)) ? Number(v) : v;
    default:
      // The NUL prefix keeps the print of a structure apart from any string value.
      return `\u0000${canonical(v)}`;
  }
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(' ')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)} ${canonical(o[k])}`)
      .join(' ')}}`;
  }
  return printEdn(v);
}

/** The value a register holds: whatever the history wrote (a boxed form keeps `undefined` out). */
type Value = {} | null;

type RegisterInput =
  | { readonly op: 'read' }
  | { readonly op: 'write'; readonly value: Value }
  | { readonly op: 'cas'; readonly from: Value; readonly to: Value };

const show = (v: unknown): string => printEdn(v);

function describeRegisterOp(op: Operation): string {
  const unknown = op.status !== 'ok';
  switch (op.f) {
    case 'read':
      return `read() -> ${unknown ? '?' : show(op.result)}`;
    case 'write':
      return `write(${show(op.value)})${unknown ? ' -> ?' : ''}`;
    case 'cas': {
      const [from, to] = Array.isArray(op.value) ? op.value : [op.value, undefined];
      return `cas(${show(from)}, ${show(to)})${unknown ? ' -> ?' : ''}`;
    }
    default:
      return `${op.f}(${show(op.value)})${unknown ? ' -> ?' : ` -> ${show(op.result)}`}`;
  }
}

/** How the register models read their history. */
export interface RegisterOptions {
  /**
   * A completed read whose value is nil: `'value'` (the default) reads nil as the value read, legal only while the
   * register holds nil; `'unknown'` reads it as Knossos does (`knossos.model`, `Register` and `CASRegister`): a
   * read of unknown value, which any state allows, like a read that never returned. `dlab history check` uses
   * `'unknown'` for Jepsen and Knossos files, since that is what nil means there, unless asked for `--strict-nil`.
   */
  readonly nilRead?: 'value' | 'unknown';
}

function decodeRegister(op: Operation, cas: boolean, nilUnknown: boolean): Decoded<RegisterInput, Value> | string {
  const known = op.status === 'ok';
  switch (op.f) {
    case 'read': {
      const value = (op.result ?? null) as Value;
      return { input: { op: 'read' }, output: known && !(nilUnknown && value === null) ? value : undefined };
    }
    case 'write':
      return { input: { op: 'write', value: (op.value ?? null) as Value }, output: known ? true : undefined };
    case 'cas': {
      if (!cas) return 'a register has no cas (use the cas-register model)';
      if (!Array.isArray(op.value) || op.value.length !== 2) return `cas needs [from to], got ${show(op.value)}`;
      const [from, to] = op.value as [unknown, unknown];
      return { input: { op: 'cas', from: (from ?? null) as Value, to: (to ?? null) as Value }, output: known ? true : undefined };
    }
    default:
      return `${cas ? 'a cas-register' : 'a register'} knows read, write${cas ? ' and cas' : ''}, not ${op.f}`;
  }
}

function stepRegister(state: Value, input: RegisterInput, output: Value | undefined): Value | undefined {
  switch (input.op) {
    case 'read':
      return output === undefined || valueEqual(state, output) ? state : undefined;
    case 'write':
      return input.value;
    case 'cas':
      if (valueEqual(state, input.from)) return input.to;
      // A cas whose outcome is unknown may have found another value and changed nothing.
      return output === undefined ? state : undefined;
  }
}

/** A read/write register; `initial` is the value before the first write (nil by default). */
export function registerModel(initial: unknown = null, options: RegisterOptions = {}): Model<Value, RegisterInput, Value> {
  const init = (initial ?? null) as Value;
  const nilUnknown = options.nilRead === 'unknown';
  return {
    name: 'register',
    init: () => init,
    decode: (op) => decodeRegister(op, false, nilUnknown),
    step: stepRegister,
    key: valueKey,
    describe: describeRegisterOp,
  };
}

/** A read/write/compare-and-set register (`cas` takes `[from to]`); `initial` defaults to nil. */
export function casRegisterModel(initial: unknown = null, options: RegisterOptions = {}): Model<Value, RegisterInput, Value> {
  const init = (initial ?? null) as Value;
  const nilUnknown = options.nilRead === 'unknown';
  return {
    name: 'cas-register',
    init: () => init,
    decode: (op) => decodeRegister(op, true, nilUnknown),
    step: stepRegister,
    key: valueKey,
    describe: describeRegisterOp,
  };
}

type KvInput = { readonly op: 'get' } | { readonly op: 'put' | 'append'; readonly value: string };

/** A key-value store of strings (get / put / append), checked one key at a time; every key starts as `initial`. */
export function kvModel(initial = ''): Model<string, KvInput, string> {
  return {
    name: 'kv',
    init: () => initial,
    decode(op): Decoded<KvInput, string> | string {
      const known = op.status === 'ok';
      switch (op.f) {
        case 'get': {
          if (!known) return { input: { op: 'get' }, output: undefined };
          // A key never written may read as nil: the same as the empty string here.
          const r = op.result ?? '';
          if (typeof r !== 'string') return `get must return a string, got ${show(op.result)}`;
          return { input: { op: 'get' }, output: r };
        }
        case 'put':
        case 'append':
          if (typeof op.value !== 'string') return `${op.f} needs a string, got ${show(op.value)}`;
          return { input: { op: op.f, value: op.value }, output: known ? '' : undefined };
        default:
          return `a kv store knows get, put and append, not ${op.f}`;
      }
    },
    step(state, input, output) {
      switch (input.op) {
        case 'get':
          return output === undefined || output === state ? state : undefined;
        case 'put':
          return input.value;
        case 'append':
          return state + input.value;
      }
    },
    partition: (op) => op.key ?? '',
    describe(op) {
      const unknown = op.status !== 'ok';
      if (op.f === 'get') return `get() -> ${unknown ? '?' : show(op.result ?? '')}`;
      return `${op.f}(${show(op.value)})${unknown ? ' -> ?' : ''}`;
    },
  };
}

export const MODEL_NAMES = ['register', 'cas-register', 'kv'] as const;
export type ModelName = (typeof MODEL_NAMES)[number];

/** A built-in model by name (for the CLI), or undefined for an unknown name; `options` apply to the registers. */
export function modelByName(name: string, initial?: unknown, options: RegisterOptions = {}): AnyModel | undefined {
  switch (name) {
    case 'register':
      return registerModel(initial, options);
    case 'cas-register':
      return casRegisterModel(initial, options);
    case 'kv':
      return kvModel(initial === undefined || initial === null ? '' : typeof initial === 'string' ? initial : show(initial));
    default:
      return undefined;
  }
}
