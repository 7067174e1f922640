// Short, deterministic renderings of arbitrary values for trace lines and reports.

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * `{seq:1,payload:"x"}`-style text, at most `max` characters. Deterministic for the same value: keys in
 * insertion order, Maps and Sets in iteration order, cycles and depth cut short.
 */
export function brief(value: unknown, max = 60): string {
  const s = show(value, 0, new Set());
  return s.length <= max ? s : cut(s, max);
}

const CLOSE: Record<string, string> = { '{': '}', '[': ']' };

/**
 * `s` in at most `max` characters: cut after the last whole field that fits, with `…` for the rest and the
 * brackets still open closed (`{kind:"data",seq:41,…}`), so a label never ends in the middle of a field;
 * where not even one field fits, cut where the room ends.
 */
function cut(s: string, max: number): string {
  const open: string[] = [];
  let inString = false;
  let best: { at: number; closers: string } | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') open.push(CLOSE[c] as string);
    else if (c === '}' || c === ']') open.pop();
    else if (c === ',') {
      // Keep s[0..i] (up to and including the comma), then '…' and the closers.
      const closers = [...open].reverse().join('');
      if (i + 1 + 1 + closers.length > max) break;
      best = { at: i + 1, closers };
    }
  }
  if (best !== undefined) return s.slice(0, best.at) + '…' + best.closers;
  return s.slice(0, Math.max(0, max - 1)) + '…';
}

function show(v: unknown, depth: number, seen: Set<object>): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return `${v}n`;
    case 'boolean':
    case 'undefined':
      return String(v);
    case 'symbol':
      return v.toString();
    case 'function':
      return v.name === '' ? 'fn' : `fn ${v.name}`;
  }
  if (v === null) return 'null';
  const o = v as object;
  if (seen.has(o)) return '…';
  if (depth >= 4) return Array.isArray(o) ? '[…]' : '{…}';
  seen.add(o);
  try {
    if (o instanceof Uint8Array) return `bytes(${o.length})`;
    if (Array.isArray(o)) return `[${o.map((x) => show(x, depth + 1, seen)).join(',')}]`;
    if (o instanceof Map) return `Map{${[...o].map(([k, x]) => `${show(k, depth + 1, seen)}=>${show(x, depth + 1, seen)}`).join(',')}}`;
    if (o instanceof Set) return `Set{${[...o].map((x) => show(x, depth + 1, seen)).join(',')}}`;
    if (o instanceof Error) return `${o.name}(${JSON.stringify(o.message)})`;
    const proto = Object.getPrototypeOf(o) as object | null;
    const name = proto === null || proto === Object.prototype ? '' : ((proto.constructor as { name?: string } | undefined)?.name ?? '');
    const body = Object.keys(o)
      .map((k) => `${IDENT.test(k) ? k : JSON.stringify(k)}:${show((o as Record<string, unknown>)[k], depth + 1, seen)}`)
      .join(',');
    return `${name}{${body}}`;
  } finally {
    seen.delete(o);
  }
}

/** A virtual time for humans: `12.5`, `1200`, `0.125` (ms, up to 3 decimals, no trailing zeros). */
export function ms(t: number): string {
  return String(Math.round(t * 1000) / 1000);
}
