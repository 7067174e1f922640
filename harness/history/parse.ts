// Parsers for history files: Jepsen log lines and EDN operation maps, with errors that name the line.
import { EdnReader, readEdnValue } from './edn.ts';
import { pairOperations, type HistoryErrorCode } from './operations.ts';
import type { History, HistoryEvent, OpType } from './types.ts';

export type HistoryFormat = 'jepsen-log' | 'edn' | 'empty';

/**
 * `syntax`: the text cannot be read; `field`: an operation lacks a field or has a wrong one; `format`: the
 * file is neither format; the pairing codes: the operations do not pair up (see `pairOperations`).
 */
export type ParseErrorCode = 'syntax' | 'field' | 'format' | HistoryErrorCode;

export interface ParseError {
  readonly code: ParseErrorCode;
  readonly message: string;
  /** 1-based line of the file. */
  readonly line: number;
}

export type ParseResult =
  | {
      readonly ok: true;
      readonly format: HistoryFormat;
      readonly history: History;
      /** The line each event came from (same length as `history`). */
      readonly lines: readonly number[];
    }
  | { readonly ok: false; readonly error: ParseError };

const LOG_LINE = /^\s*([A-Z]+)\s+(\S+)\s+-\s+(.*?)\s*$/;
const TYPES: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);
const INTEGER = /^-?\d+$/;

/** Reads either format, telling them apart by the first line that is not blank. */
export function parseHistory(text: string): ParseResult {
  const start = text.search(/\S/);
  if (start < 0) return { ok: true, format: 'empty', history: [], lines: [] };
  const lineStart = text.lastIndexOf('\n', start) + 1;
  const lineEnd = text.indexOf('\n', start);
  const line = text.slice(lineStart, lineEnd < 0 ? text.length : lineEnd).trim();
  const c = line[0];
  if (c === '{' || c === '[' || c === '(' || c === ';' || c === '#') return parseEdnHistory(text);
  if (LOG_LINE.test(line)) return parseJepsenLog(text);
  let lineNo = 1;
  for (let i = 0; i < lineStart; i++) if (text.charCodeAt(i) === 10) lineNo++;
  return error(
    'format',
    'neither a Jepsen log line ("INFO jepsen.util - <process> :<type> :<f> <value>") nor an EDN operation map',
    lineNo,
  );
}

/**
 * Reads Jepsen log lines, `INFO jepsen.util - <process> :<type> :<f> <value>`, tab- or space-separated. Lines
 * of other loggers are skipped, as are operations of non-integer processes (`:nemesis`); anything after the
 * value (Jepsen's error field) is ignored.
 */
export function parseJepsenLog(text: string): ParseResult {
  const events: HistoryEvent[] = [];
  const lineOf: number[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!;
    if (raw.trim() === '') continue;
    const m = LOG_LINE.exec(raw);
    if (m === null) {
      return error('syntax', 'not a Jepsen log line ("INFO jepsen.util - <process> :<type> :<f> <value>")', lineNo);
    }
    if (m[2] !== 'jepsen.util') continue;
    const msg = m[3]!;
    const fields = splitFields(msg, 3);
    if (fields.length < 4) {
      return error('syntax', `expected "<process> :<type> :<f> <value>" after "jepsen.util -", got "${msg}"`, lineNo);
    }
    const [proc, type, f, rest] = fields as [string, string, string, string];
    if (!INTEGER.test(proc)) {
      if (proc.startsWith(':')) continue;
      return error('field', `process must be an integer or a keyword such as :nemesis, got "${proc}"`, lineNo);
    }
    const t = type.startsWith(':') ? type.slice(1) : '';
    if (!TYPES.has(t)) return error('field', `type must be :invoke, :ok, :fail or :info, got "${type}"`, lineNo);
    if (!f.startsWith(':') || f.length < 2) return error('field', `f must be a keyword such as :read, got "${f}"`, lineNo);
    let value: unknown;
    if (rest === 'nil') value = null;
    else if (INTEGER.test(rest) && rest.length < 16) value = Number(rest);
    else {
      const reader = new EdnReader(rest, lineNo);
      const form = reader.read();
      if (!form.ok) return error('syntax', `cannot read the value "${rest}": ${form.error.message}`, lineNo);
      value = form.value.value;
    }
    events.push({ process: Number(proc), type: t as OpType, f: f.slice(1), value });
    lineOf.push(lineNo);
  }
  return finish('jepsen-log', events, lineOf);
}

/**
 * Reads EDN operation maps (`{:process 0, :type :invoke, :f :read, :value nil}`), keys in any order, optionally
 * inside one `[ ]` or `( )`. `:key` is kept (as a string); `:time` (Jepsen's nanoseconds) becomes ms; other
 * keys are ignored. Operations of non-integer processes (`:nemesis`) are skipped.
 */
export function parseEdnHistory(text: string): ParseResult {
  const reader = new EdnReader(text);
  const events: HistoryEvent[] = [];
  const lineOf: number[] = [];
  const wrapper = reader.openWrapper();
  if (!wrapper.ok) return error('syntax', wrapper.error.message, wrapper.error.line);
  const closer = wrapper.value;
  if (closer === undefined && reader.atEnd()) return { ok: true, format: 'empty', history: [], lines: [] };
  for (;;) {
    let form;
    if (closer === undefined) {
      if (reader.atEnd()) break;
      const r = reader.read();
      if (!r.ok) return error('syntax', r.error.message, r.error.line);
      form = r.value;
    } else {
      const r = reader.readUntil(closer);
      if (!r.ok) return error('syntax', r.error.message, r.error.line);
      if (r.value === null) {
        if (!reader.atEnd()) return error('syntax', `text after the closing "${closer}"`, reader.currentLine);
        break;
      }
      form = r.value;
    }
    const ev = toEvent(form.value, form.line);
    if (ev === null) continue;
    if ('code' in ev) return { ok: false, error: ev };
    events.push(ev);
    lineOf.push(form.line);
  }
  return finish('edn', events, lineOf);
}

function toEvent(v: unknown, line: number): HistoryEvent | ParseError | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    return { code: 'field', message: 'expected an operation map such as {:process 0, :type :invoke, :f :read}', line };
  }
  const m = v as Record<string, unknown>;
  if (!(':process' in m)) return { code: 'field', message: 'the operation has no :process', line };
  const process = m[':process'];
  if (typeof process !== 'number' || !Number.isInteger(process)) return null;
  const type = name(m[':type']);
  if (type === undefined || !TYPES.has(type)) {
    return { code: 'field', message: ':type must be :invoke, :ok, :fail or :info', line };
  }
  const f = name(m[':f']);
  if (f === undefined) return { code: 'field', message: 'the operation has no :f (such as :read)', line };
  const value = m[':value'] === undefined ? null : m[':value'];
  const base = { process, type: type as OpType, f, value };
  const rawKey = m[':key'];
  const key =
    rawKey === undefined || rawKey === null
      ? undefined
      : typeof rawKey === 'string'
        ? rawKey
        : typeof rawKey === 'number' || typeof rawKey === 'bigint'
          ? String(rawKey)
          : JSON.stringify(rawKey);
  const time = typeof m[':time'] === 'number' ? m[':time'] / 1e6 : undefined;
  if (key !== undefined && time !== undefined) return { ...base, key, time };
  if (key !== undefined) return { ...base, key };
  if (time !== undefined) return { ...base, time };
  return base;
}

/** A keyword, string or symbol as a bare name (`:read`, `"read"`, `read` → `read`). */
function name(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '' || v === ':') return undefined;
  return v.charCodeAt(0) === 58 ? v.slice(1) : v;
}

/** Splits off the first `n` whitespace-separated fields; the rest of the text is the last element. */
function splitFields(s: string, n: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (out.length < n) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) return out;
    let j = i;
    while (j < s.length && s[j] !== ' ' && s[j] !== '\t') j++;
    out.push(s.slice(i, j));
    i = j;
  }
  while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  if (i < s.length) out.push(s.slice(i));
  return out;
}

function finish(format: HistoryFormat, history: HistoryEvent[], lines: number[]): ParseResult {
  const paired = pairOperations(history);
  if (!paired.ok) {
    const { code, message, index } = paired.error;
    // The pairing messages number events; in a file, the line is what the reader needs.
    return error(code, message.replace(/^event \d+: /, ''), lines[index]!);
  }
  return { ok: true, format, history, lines };
}

function error(code: ParseErrorCode, message: string, line: number): ParseResult {
  return { ok: false, error: { code, message, line } };
}

/** Reads an `--init` argument: an EDN value (`nil`, `0`, `"x"`, `:k`); anything unreadable is the raw text. */
export function parseInitValue(text: string): unknown {
  const r = readEdnValue(text);
  return r.ok ? r.value : text;
}
