// A small EDN reader for history files: enough of the format for Jepsen values, with line numbers for errors.
//
// EDN values become plain JavaScript values so that they compare, hash and print without a wrapper:
//   nil → null, true/false → boolean, integers → number (bigint beyond 2^53), decimals → number,
//   "strings" → string, :keywords → the string ":keyword" (colon kept, so `:timed-out` reads as ":timed-out"),
//   symbols → their name, [vectors], (lists) and #{sets} → arrays, {maps} → objects whose keys are the
//   printed keys (":process", "x", "1"), #tag value → value, \c → a one-character string.

/** A reading error: what went wrong and on which 1-based line. */
export interface EdnError {
  readonly message: string;
  readonly line: number;
}

/** One top-level form and the line it starts on. */
export interface EdnForm {
  readonly value: unknown;
  readonly line: number;
}

export type EdnResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: EdnError };

const CLOSERS: Record<string, string> = { '[': ']', '(': ')', '{': '}' };

class Failure {
  constructor(
    readonly message: string,
    readonly line: number,
  ) {}
}

function isWhitespace(c: number): boolean {
  // space, tab, newline, carriage return, comma (whitespace in EDN), form feed
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 44 || c === 12;
}

function isDelimiter(c: number): boolean {
  // whitespace or one of ( ) [ ] { } " ;
  return isWhitespace(c) || c === 40 || c === 41 || c === 91 || c === 93 || c === 123 || c === 125 || c === 34 || c === 59;
}

/** Reads EDN text; `firstLine` numbers the first line of `text` (for text cut out of a bigger file). */
export class EdnReader {
  private pos = 0;
  private line: number;

  constructor(
    private readonly text: string,
    firstLine = 1,
  ) {
    this.line = firstLine;
  }

  /** The current line (where the next form would start once whitespace is skipped). */
  get currentLine(): number {
    return this.line;
  }

  /** Skips whitespace, commas, `;` comments and `#_` discarded forms; false at the end of the text. */
  private skipSpace(): boolean {
    const t = this.text;
    for (;;) {
      while (this.pos < t.length) {
        const c = t.charCodeAt(this.pos);
        if (c === 10) {
          this.line++;
          this.pos++;
        } else if (isWhitespace(c)) {
          this.pos++;
        } else if (c === 59) {
          while (this.pos < t.length && t.charCodeAt(this.pos) !== 10) this.pos++;
        } else {
          break;
        }
      }
      if (this.pos + 1 < t.length && t.charCodeAt(this.pos) === 35 && t.charCodeAt(this.pos + 1) === 95) {
        this.pos += 2;
        this.readInner();
        continue;
      }
      return this.pos < t.length;
    }
  }

  /** Consumes an opening `[` or `(` if that is what comes next, and returns its closer. */
  openWrapper(): EdnResult<string | undefined> {
    try {
      if (!this.skipSpace()) return { ok: true, value: undefined };
      const c = this.text[this.pos]!;
      if (c !== '[' && c !== '(') return { ok: true, value: undefined };
      this.pos++;
      return { ok: true, value: CLOSERS[c]! };
    } catch (e) {
      if (e instanceof Failure) return { ok: false, error: { message: e.message, line: e.line } };
      throw e;
    }
  }

  /** Reads one form, or reports an error. */
  read(): EdnResult<EdnForm> {
    try {
      if (!this.skipSpace()) return { ok: false, error: { message: 'unexpected end of input', line: this.line } };
      const line = this.line;
      return { ok: true, value: { value: this.readInner(), line } };
    } catch (e) {
      if (e instanceof Failure) return { ok: false, error: { message: e.message, line: e.line } };
      throw e;
    }
  }

  /** Reads a delimited sequence's forms one at a time (for a top-level `[ ... ]`); null after the closer. */
  readUntil(closer: string): EdnResult<EdnForm | null> {
    try {
      if (!this.skipSpace()) return { ok: false, error: { message: `missing "${closer}" at the end`, line: this.line } };
      if (this.text[this.pos] === closer) {
        this.pos++;
        return { ok: true, value: null };
      }
      const line = this.line;
      return { ok: true, value: { value: this.readInner(), line } };
    } catch (e) {
      if (e instanceof Failure) return { ok: false, error: { message: e.message, line: e.line } };
      throw e;
    }
  }

  /** True when only whitespace and comments remain. */
  atEnd(): boolean {
    try {
      return !this.skipSpace();
    } catch (e) {
      if (e instanceof Failure) return false;
      throw e;
    }
  }

  private readInner(): unknown {
    if (!this.skipSpace()) throw new Failure('unexpected end of input', this.line);
    const t = this.text;
    const c = t[this.pos]!;
    switch (c) {
      case '[':
      case '(':
        this.pos++;
        return this.readSeq(CLOSERS[c]!);
      case '{':
        this.pos++;
        return this.readMap();
      case ']':
      case ')':
      case '}':
        throw new Failure(`unexpected "${c}"`, this.line);
      case '"':
        return this.readString();
      case '\\':
        return this.readChar();
      case '#':
        return this.readDispatch();
      default:
        return this.readAtom();
    }
  }

  private readSeq(closer: string): unknown[] {
    const out: unknown[] = [];
    const startLine = this.line;
    for (;;) {
      if (!this.skipSpace()) throw new Failure(`missing "${closer}" for the one opened on line ${startLine}`, this.line);
      const c = this.text[this.pos];
      if (c === closer) {
        this.pos++;
        return out;
      }
      out.push(this.readInner());
    }
  }

  private readMap(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const startLine = this.line;
    for (;;) {
      if (!this.skipSpace()) throw new Failure(`missing "}" for the map opened on line ${startLine}`, this.line);
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      const key = this.readInner();
      if (!this.skipSpace()) throw new Failure(`missing "}" for the map opened on line ${startLine}`, this.line);
      if (this.text[this.pos] === '}') throw new Failure(`the map key ${printEdn(key)} has no value`, this.line);
      const value = this.readInner();
      out[typeof key === 'string' ? key : printEdn(key)] = value;
    }
  }

  private readString(): string {
    const t = this.text;
    const startLine = this.line;
    let i = this.pos + 1;
    let out = '';
    let from = i;
    for (;;) {
      if (i >= t.length) throw new Failure(`unterminated string (opened on line ${startLine})`, this.line);
      const c = t.charCodeAt(i);
      if (c === 34) break;
      if (c === 10) this.line++;
      if (c === 92) {
        out += t.slice(from, i);
        const e = t[i + 1];
        switch (e) {
          case 'n':
            out += '\n';
            break;
          case 't':
            out += '\t';
            break;
          case 'r':
            out += '\r';
            break;
          case '"':
          case '\\':
            out += e;
            break;
          case 'u': {
            const hex = t.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Failure('bad \\u escape in a string', this.line);
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            throw new Failure(`unknown escape "\\${e ?? ''}" in a string`, this.line);
        }
        i += 2;
        from = i;
        continue;
      }
      i++;
    }
    out += t.slice(from, i);
    this.pos = i + 1;
    return out;
  }

  private readChar(): string {
    const t = this.text;
    let end = this.pos + 2;
    while (end < t.length && !isDelimiter(t.charCodeAt(end))) end++;
    const name = t.slice(this.pos + 1, end);
    this.pos = end;
    const named: Record<string, string> = { newline: '\n', space: ' ', tab: '\t', return: '\r' };
    if (name.length === 1) return name;
    if (named[name] !== undefined) return named[name];
    if (/^u[0-9a-fA-F]{4}$/.test(name)) return String.fromCharCode(parseInt(name.slice(1), 16));
    throw new Failure(`unknown character literal "\\${name}"`, this.line);
  }

  private readDispatch(): unknown {
    const next = this.text[this.pos + 1];
    if (next === '{') {
      this.pos += 2;
      return this.readSeq('}');
    }
    if (next !== undefined && /[A-Za-z]/.test(next)) {
      // A tagged element (#inst "...", #uuid "..."): the tag says how to read it; the value is enough here.
      this.pos++;
      this.readAtom();
      return this.readInner();
    }
    throw new Failure(`unsupported "#${next ?? ''}" form`, this.line);
  }

  private readAtom(): unknown {
    const t = this.text;
    const start = this.pos;
    let end = start;
    while (end < t.length && !isDelimiter(t.charCodeAt(end))) end++;
    if (end === start) throw new Failure(`unexpected "${t[start]}"`, this.line);
    this.pos = end;
    return atom(t.slice(start, end), this.line);
  }
}

const INTEGER = /^[+-]?\d+N?$/;
const DECIMAL = /^[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?$/;
const SYMBOL = /^[A-Za-z*!_?$%&=<>.+\-/][\w*!?$%&=<>.+\-/:#']*$/;

function atom(token: string, line: number): unknown {
  if (token === 'nil') return null;
  if (token === 'true') return true;
  if (token === 'false') return false;
  if (INTEGER.test(token)) {
    const digits = token.endsWith('N') ? token.slice(0, -1) : token;
    const n = Number(digits);
    return Number.isSafeInteger(n) ? n : BigInt(digits);
  }
  if (DECIMAL.test(token)) return Number(token.endsWith('M') ? token.slice(0, -1) : token);
  if (token.charCodeAt(0) === 58) {
    if (token.length < 2 || !SYMBOL.test(token.slice(token[1] === ':' ? 2 : 1))) {
      throw new Failure(`bad keyword "${token}"`, line);
    }
    return token;
  }
  if (SYMBOL.test(token)) return token;
  throw new Failure(`cannot read "${token}"`, line);
}

/** Reads a single EDN value from a string (used for `--init` and small fields). */
export function readEdnValue(text: string): EdnResult<unknown> {
  const reader = new EdnReader(text);
  const form = reader.read();
  if (!form.ok) return form;
  if (!reader.atEnd()) return { ok: false, error: { message: 'more than one value', line: reader.currentLine } };
  return { ok: true, value: form.value.value };
}

/** Prints a value the way EDN would (keywords are already ":name" strings; other strings are quoted). */
export function printEdn(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  switch (typeof v) {
    case 'string':
      return isKeyword(v) ? v : JSON.stringify(v);
    case 'number':
    case 'boolean':
      return String(v);
    case 'bigint':
      return `${v}N`;
    case 'object':
      if (Array.isArray(v)) return `[${v.map(printEdn).join(' ')}]`;
      return `{${Object.entries(v)
        .map(([k, x]) => `${isKeyword(k) ? k : JSON.stringify(k)} ${printEdn(x)}`)
        .join(', ')}}`;
    default:
      return String(v);
  }
}

/** True for the ":name" strings that keywords read as. */
export function isKeyword(s: string): boolean {
  return s.length > 1 && s.charCodeAt(0) === 58 && !/\s/.test(s);
}
