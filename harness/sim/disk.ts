// A node's simulated disk: reads see every write, a crash keeps only fsync'd bytes, a torn crash cuts the last append.
import type { Disk } from './types.ts';
import type { Rng } from './rng.ts';

/** The disk operations that change something (what the CD fault counts). */
export type DiskOp = 'write' | 'append' | 'fsync' | 'rename' | 'delete';

type Durable = { readonly kind: 'none' } | { readonly kind: 'prefix'; readonly len: number } | { readonly kind: 'copy'; readonly bytes: Uint8Array };

interface FileState {
  buf: Uint8Array;
  len: number;
  /** What survives a crash. 'prefix': the first len bytes of buf (the file only grew since its fsync). */
  durable: Durable;
  /** Sizes of the appends since the last fsync, or null once a write replaced bytes (then nothing can tear). */
  pending: number[] | null;
}

const NONE: Durable = { kind: 'none' };
const EMPTY = new Uint8Array(0);

/**
 * The durable store of one node, shared by all its incarnations. Appends grow a buffer in place and
 * an fsync records a length, so a log that appends and fsyncs one record at a time costs O(record).
 */
export class SimDisk implements Disk {
  private readonly files = new Map<string, FileState>();
  private lastAppend: string | undefined;
  /** Called on every fsync (the simulator charges the SD fault's stall here). */
  onFsync: (file: string) => void = () => {};

  read(file: string): Uint8Array | undefined {
    const f = this.files.get(file);
    return f === undefined ? undefined : f.buf.slice(0, f.len);
  }

  write(file: string, bytes: Uint8Array): void {
    const f = this.files.get(file);
    const copy = bytes.slice();
    if (f === undefined) {
      this.files.set(file, { buf: copy, len: copy.length, durable: NONE, pending: null });
      return;
    }
    if (f.durable.kind === 'prefix') f.durable = { kind: 'copy', bytes: f.buf.slice(0, f.durable.len) };
    f.buf = copy;
    f.len = copy.length;
    f.pending = null;
  }

  append(file: string, bytes: Uint8Array): void {
    let f = this.files.get(file);
    if (f === undefined) {
      f = { buf: new Uint8Array(Math.max(64, bytes.length)), len: 0, durable: NONE, pending: [] };
      this.files.set(file, f);
    }
    const need = f.len + bytes.length;
    if (need > f.buf.length) {
      const grown = new Uint8Array(Math.max(need, f.buf.length * 2));
      grown.set(f.buf.subarray(0, f.len));
      f.buf = grown;
    }
    f.buf.set(bytes, f.len);
    f.len = need;
    if (f.pending !== null) f.pending.push(bytes.length);
    this.lastAppend = file;
  }

  fsync(file: string): void {
    const f = this.files.get(file);
    if (f === undefined) return;
    f.durable = { kind: 'prefix', len: f.len };
    f.pending = [];
    this.onFsync(file);
  }

  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw new Error(`disk.rename: no file named ${JSON.stringify(from)}`);
    if (from === to) return;
    // The rename itself is durable; the bytes are only as durable as they were under the old name.
    if (f.durable.kind === 'none') f.durable = { kind: 'copy', bytes: EMPTY };
    this.files.delete(from);
    this.files.set(to, f);
    if (this.lastAppend === from) this.lastAppend = to;
    else if (this.lastAppend === to) this.lastAppend = undefined;
  }

  delete(file: string): void {
    this.files.delete(file);
    if (this.lastAppend === file) this.lastAppend = undefined;
  }

  list(): string[] {
    return [...this.files.keys()].sort();
  }

  /** Total bytes currently stored (for efficiency bounds). */
  bytes(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.len;
    return n;
  }

  /**
   * A crash: every file falls back to its durable bytes. With `torn`, the file appended to last keeps a
   * random proper prefix of its unsynced tail instead (lost tail, often a torn last record).
   */
  crash(torn?: Rng): void {
    for (const [name, f] of [...this.files]) {
      const pending = f.pending;
      if (torn !== undefined && name === this.lastAppend && pending !== null && pending.length > 0 && f.durable.kind !== 'copy') {
        // Bytes reach the platter in order, so what survives is a prefix of the unsynced tail: half the
        // time a cut inside the last append (a torn record), otherwise anywhere in the tail.
        const base = f.durable.kind === 'prefix' ? f.durable.len : 0;
        const last = pending[pending.length - 1] as number;
        const unsynced = f.len - base;
        const kept = last >= 2 && torn.chance(0.5) ? unsynced - last + torn.int(1, last - 1) : torn.int(0, Math.max(0, unsynced - 1));
        f.len = base + kept;
      } else if (f.durable.kind === 'none') {
        this.files.delete(name);
        continue;
      } else if (f.durable.kind === 'prefix') {
        f.len = f.durable.len;
      } else {
        f.buf = f.durable.bytes.slice();
        f.len = f.buf.length;
      }
      f.durable = { kind: 'prefix', len: f.len };
      f.pending = [];
    }
    this.lastAppend = undefined;
  }

  /**
   * A view for one node instance: once `alive()` is false (the instance crashed) changes are ignored. `after`
   * runs after each change that happened (the simulator's CD fault crashes the node there, by throwing).
   */
  view(alive: () => boolean, after: (op: DiskOp, file: string) => void = () => {}): Disk {
    return {
      read: (f) => this.read(f),
      write: (f, b) => {
        if (!alive()) return;
        this.write(f, b);
        after('write', f);
      },
      append: (f, b) => {
        if (!alive()) return;
        this.append(f, b);
        after('append', f);
      },
      fsync: (f) => {
        if (!alive()) return;
        this.fsync(f);
        after('fsync', f);
      },
      rename: (a, b) => {
        if (!alive()) return;
        this.rename(a, b);
        after('rename', `${a} → ${b}`);
      },
      delete: (f) => {
        if (!alive()) return;
        this.delete(f);
        after('delete', f);
      },
      list: () => this.list(),
    };
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** UTF-8 bytes of a string, for `disk.write` and `disk.append`. */
export function encodeText(s: string): Uint8Array {
  return encoder.encode(s);
}

/** The string in UTF-8 bytes (a torn tail may end in U+FFFD). */
export function decodeText(b: Uint8Array): string {
  return decoder.decode(b);
}
