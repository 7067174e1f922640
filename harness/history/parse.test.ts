// Tests of the history parsers: both formats, their tolerances, and errors that name the line.
import { describe, expect, it } from 'vitest';
import { readEdnValue } from './edn.ts';
import { pairOperations } from './operations.ts';
import { parseEdnHistory, parseHistory, parseInitValue, parseJepsenLog, type ParseResult } from './parse.ts';

function ok(r: ParseResult) {
  if (!r.ok) throw new Error(`expected a parse, got line ${r.error.line}: ${r.error.message}`);
  return r;
}

function err(r: ParseResult) {
  if (r.ok) throw new Error('expected an error');
  return r.error;
}

describe('EDN values', () => {
  it('reads scalars, collections, keywords and tags', () => {
    const cases: [string, unknown][] = [
      ['nil', null],
      ['true', true],
      ['-12', -12],
      ['3.5', 3.5],
      ['"a\\"b\\n"', 'a"b\n'],
      [':timed-out', ':timed-out'],
      ['sym', 'sym'],
      ['[1 2]', [1, 2]],
      ['(1, 2)', [1, 2]],
      ['#{1}', [1]],
      ['{:a 1 "b" [nil]}', { ':a': 1, b: [null] }],
      ['#inst "2020"', '2020'],
      ['[1 #_ 2 3]', [1, 3]],
      ['9007199254740993', 9007199254740993n],
      ['\\a', 'a'],
    ];
    for (const [text, value] of cases) {
      const r = readEdnValue(text);
      expect(r.ok && r.value, text).toEqual(value);
    }
  });

  it('reports unterminated forms with a line', () => {
    const r = readEdnValue('[1\n2\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.line).toBe(3);
    const s = readEdnValue('"abc');
    expect(s.ok).toBe(false);
  });
});

describe('Jepsen log lines', () => {
  it('reads tab- and space-separated lines with every kind of value', () => {
    const text = [
      'INFO  jepsen.util - 0\t:invoke\t:read\tnil',
      'INFO jepsen.util - 0 :ok :read 3',
      'INFO  jepsen.util - 1\t:invoke\t:cas\t[3 0]',
      'INFO  jepsen.util - 1\t:fail\t:cas\t[3 0]',
      'INFO  jepsen.util - 2\t:invoke\t:write\t4',
      'INFO  jepsen.util - 2\t:info\t:write\t:timed-out',
      '',
    ].join('\n');
    const r = ok(parseJepsenLog(text));
    expect(r.format).toBe('jepsen-log');
    expect(r.history).toEqual([
      { process: 0, type: 'invoke', f: 'read', value: null },
      { process: 0, type: 'ok', f: 'read', value: 3 },
      { process: 1, type: 'invoke', f: 'cas', value: [3, 0] },
      { process: 1, type: 'fail', f: 'cas', value: [3, 0] },
      { process: 2, type: 'invoke', f: 'write', value: 4 },
      { process: 2, type: 'info', f: 'write', value: ':timed-out' },
    ]);
    expect(r.lines).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('skips other loggers, nemesis operations and CRLF endings; ignores a trailing error field', () => {
    const text = [
      'INFO  jepsen.core - Running test',
      'INFO  jepsen.util - :nemesis\t:info\t:start\tnil',
      'INFO  jepsen.util - 0\t:invoke\t:write\t1\r',
      'INFO  jepsen.util - 0\t:info\t:write\t1\tindeterminate: timeout',
    ].join('\n');
    const r = ok(parseHistory(text));
    expect(r.history.map((e) => e.type)).toEqual(['invoke', 'info']);
    expect(r.lines).toEqual([3, 4]);
  });

  it('names the line of a malformed entry', () => {
    const base = 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\n';
    expect(err(parseJepsenLog(`${base}INFO  jepsen.util - 0\t:ok\t:read\n`))).toMatchObject({ code: 'syntax', line: 2 });
    expect(err(parseJepsenLog(`${base}INFO  jepsen.util - 0\t:done\t:read\t1\n`))).toMatchObject({ code: 'field', line: 2 });
    expect(err(parseJepsenLog(`${base}INFO  jepsen.util - x\t:ok\t:read\t1\n`))).toMatchObject({ code: 'field', line: 2 });
    expect(err(parseJepsenLog(`${base}INFO  jepsen.util - 0\t:ok\tread\t1\n`))).toMatchObject({ code: 'field', line: 2 });
    expect(err(parseJepsenLog(`${base}INFO  jepsen.util - 0\t:ok\t:read\t[1 2\n`))).toMatchObject({ code: 'syntax', line: 2 });
    expect(err(parseJepsenLog(`${base}\nthis is not a log line\n`))).toMatchObject({ code: 'syntax', line: 3 });
  });

  it('reports operations that do not pair up, at their line', () => {
    const orphan = 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t1\n';
    expect(err(parseJepsenLog(orphan))).toMatchObject({ code: 'orphan-completion', line: 2 });
    const twice = 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\n';
    expect(err(parseJepsenLog(twice))).toMatchObject({ code: 'double-invoke', line: 2 });
    const other = 'INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:write\t1\n';
    expect(err(parseJepsenLog(other))).toMatchObject({ code: 'mismatched-completion', line: 2 });
  });
});

describe('EDN histories', () => {
  const op = (s: string) => `{${s}}`;

  it('reads maps with keys in any order, keeping :key, ignoring extra keys', () => {
    const text = [
      op(':process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"'),
      op(':value "x 0 0 y" :f :append :index 7 :type :ok :key "0" :process 0'),
      op(':process 1 :type :invoke :f :get :key 5 :value nil :time 2000000'),
    ].join('\n');
    const r = ok(parseHistory(text));
    expect(r.format).toBe('edn');
    expect(r.history).toEqual([
      { process: 0, type: 'invoke', f: 'append', value: 'x 0 0 y', key: '0' },
      { process: 0, type: 'ok', f: 'append', value: 'x 0 0 y', key: '0' },
      { process: 1, type: 'invoke', f: 'get', value: null, key: '5', time: 2 },
    ]);
  });

  it('accepts a wrapping [ ] or ( ), comments, and skips non-integer processes', () => {
    for (const [open, close] of [
      ['[', ']'],
      ['(', ')'],
    ]) {
      const text = [
        '; a history',
        open,
        '  {:process 0, :type :invoke, :f :read, :value nil} ; first',
        '  {:process :nemesis, :type :info, :f :start, :value nil}',
        '',
        '  {:process 0, :type :ok, :f :read, :value 3}',
        close,
        '',
      ].join('\n');
      const r = ok(parseEdnHistory(text));
      expect(r.history.map((e) => e.value)).toEqual([null, 3]);
      expect(r.lines).toEqual([3, 6]);
    }
  });

  it('names the line of a malformed operation', () => {
    const good = '{:process 0, :type :invoke, :f :read, :value nil}\n';
    expect(err(parseEdnHistory(`${good}{:process 0, :type :ok, :f :read, :value [1}\n`))).toMatchObject({ code: 'syntax', line: 2 });
    expect(err(parseEdnHistory(`${good}\n{:process 0, :type :done, :f :read}\n`))).toMatchObject({ code: 'field', line: 3 });
    expect(err(parseEdnHistory(`${good}{:type :ok, :f :read}\n`))).toMatchObject({ code: 'field', line: 2 });
    expect(err(parseEdnHistory(`${good}{:process 0, :type :ok, :value 1}\n`))).toMatchObject({ code: 'field', line: 2 });
    expect(err(parseEdnHistory(`${good}[1 2]\n`))).toMatchObject({ code: 'field', line: 2 });
    expect(err(parseEdnHistory(`[${good}`))).toMatchObject({ code: 'syntax', line: 2 });
    expect(err(parseEdnHistory(`[${good}] {:process 1}`))).toMatchObject({ code: 'syntax', line: 2 });
    expect(err(parseEdnHistory(`${good}{:process 0 :type :ok :f :read :value}\n`))).toMatchObject({ line: 2 });
  });
});

describe('format detection', () => {
  it('parses an empty or blank file to an empty history', () => {
    for (const text of ['', '\n\n', '   \n']) {
      const r = ok(parseHistory(text));
      expect(r.history).toEqual([]);
      expect(r.format).toBe('empty');
    }
  });

  it('rejects a file in neither format at its first line', () => {
    expect(err(parseHistory('\n\nhello world\n'))).toMatchObject({ code: 'format', line: 3 });
  });
});

describe('pairing', () => {
  it('keeps an info operation open and lets its process invoke again', () => {
    const r = pairOperations([
      { process: 0, type: 'invoke', f: 'write', value: 1 },
      { process: 0, type: 'info', f: 'write', value: ':timed-out' },
      { process: 0, type: 'invoke', f: 'read', value: null },
      { process: 1, type: 'invoke', f: 'read', value: null },
      { process: 0, type: 'ok', f: 'read', value: 1 },
    ]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.operations.map((o) => [o.f, o.status, o.invoke, o.complete])).toEqual([
      ['write', 'info', 0, 1],
      ['read', 'ok', 2, 4],
      ['read', 'info', 3, -1],
    ]);
  });
});

describe('--init values', () => {
  it('reads EDN and falls back to the raw text', () => {
    expect(parseInitValue('nil')).toBe(null);
    expect(parseInitValue('0')).toBe(0);
    expect(parseInitValue('"x"')).toBe('x');
    expect(parseInitValue('a b')).toBe('a b');
  });
});
