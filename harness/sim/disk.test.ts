import { describe, expect, it } from 'vitest';
import { SimDisk, decodeText, encodeText } from './disk.ts';
import { Rng } from './rng.ts';

const text = (d: SimDisk, f: string): string | undefined => {
  const b = d.read(f);
  return b === undefined ? undefined : decodeText(b);
};

describe('SimDisk', () => {
  it('reads every write at once, and keeps only fsynced bytes across a crash', () => {
    const d = new SimDisk();
    d.append('log', encodeText('a;'));
    d.fsync('log');
    d.append('log', encodeText('b;'));
    d.write('tmp', encodeText('x'));
    expect(text(d, 'log')).toBe('a;b;');
    expect(d.list()).toEqual(['log', 'tmp']);
    d.crash();
    expect(text(d, 'log')).toBe('a;');
    expect(d.read('tmp')).toBeUndefined();
    expect(d.list()).toEqual(['log']);
  });

  it('restores the fsynced version after an unsynced overwrite', () => {
    const d = new SimDisk();
    d.write('f', encodeText('old'));
    d.fsync('f');
    d.write('f', encodeText('new'));
    d.append('f', encodeText('!'));
    expect(text(d, 'f')).toBe('new!');
    d.crash();
    expect(text(d, 'f')).toBe('old');
  });

  it('copies bytes in and out, so callers cannot change the disk behind its back', () => {
    const d = new SimDisk();
    const b = encodeText('abc');
    d.write('f', b);
    b[0] = 0;
    const r = d.read('f') as Uint8Array;
    r[1] = 0;
    expect(text(d, 'f')).toBe('abc');
  });

  it('renames atomically; a renamed file carries only its own fsynced bytes', () => {
    const d = new SimDisk();
    d.write('data', encodeText('v1'));
    d.fsync('data');
    d.write('data.tmp', encodeText('v2'));
    d.rename('data.tmp', 'data');
    expect(text(d, 'data')).toBe('v2');
    expect(d.list()).toEqual(['data']);
    d.crash();
    // The rename survived but v2 was never fsynced: the classic zero-length file.
    expect(text(d, 'data')).toBe('');

    d.write('data.tmp', encodeText('v3'));
    d.fsync('data.tmp');
    d.rename('data.tmp', 'data');
    d.crash();
    expect(text(d, 'data')).toBe('v3');
    expect(() => d.rename('missing', 'x')).toThrow(/no file/);
    d.delete('data');
    d.crash();
    expect(d.list()).toEqual([]);
  });

  it('tears the unsynced tail of the last append on a torn crash, keeping a prefix', () => {
    const rng = new Rng(9);
    let torn = 0;
    for (let i = 0; i < 200; i++) {
      const d = new SimDisk();
      d.append('wal', encodeText('rec1;'));
      d.fsync('wal');
      d.append('wal', encodeText('rec2;'));
      d.append('wal', encodeText('rec3;'));
      d.crash(rng);
      const s = text(d, 'wal') as string;
      expect('rec1;rec2;rec3;'.startsWith(s)).toBe(true);
      expect(s.length).toBeGreaterThanOrEqual(5);
      expect(s.length).toBeLessThan(15);
      if (s.length > 10) torn++;
    }
    expect(torn).toBeGreaterThan(50);
  });

  it('ignores changes through a crashed instance view, and reports fsyncs', () => {
    const d = new SimDisk();
    let alive = true;
    const fsyncs: string[] = [];
    d.onFsync = (f) => fsyncs.push(f);
    const v = d.view(() => alive);
    v.write('a', encodeText('1'));
    v.fsync('a');
    alive = false;
    v.write('a', encodeText('2'));
    v.delete('a');
    expect(text(d, 'a')).toBe('1');
    expect(v.list()).toEqual(['a']);
    expect(fsyncs).toEqual(['a']);
    expect(d.bytes()).toBe(1);
  });
});
