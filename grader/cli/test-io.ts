// An in-memory Io for command tests: no TTY, no colour, output captured as strings.
import { Readable } from 'node:stream';
import type { Io } from './io.ts';

export interface CapturedIo extends Io {
  out(): string;
  err(): string;
}

export function testIo(env: Record<string, string | undefined> = {}, cwd = process.cwd()): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: Readable.from([]) as Io['stdin'],
    interactive: false,
    color: false,
    columns: 80,
    rows: 24,
    env,
    cwd,
    out: () => out,
    err: () => err,
  };
}
