// What commands print, snapshot-tested with injected streams (no TTY, no colour, 80 columns). Durations, CPU
// times and the version are masked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from './main.ts';
import { testIo } from './test-io.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlab-snap-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function dlab(...argv: string[]): Promise<string> {
  const io = testIo({ DLAB_DB: join(dir, 'progress.db') });
  const code = await main(argv, io);
  const mask = (s: string) =>
    s
      .replace(/\d+(\.\d+)? s\b/g, '<t> s')
      .replace(/"(durationMs|cpuMs)": \d+/g, '"$1": <t>')
      .replace(/^dlab \d+\.\d+\.\d+\S*:/m, 'dlab <version>:');
  return `exit ${code}\n--- stdout\n${mask(io.out())}--- stderr\n${mask(io.err())}`;
}

const ID = '03-time-and-causality/01-vector-clocks';

describe('command output', () => {
  it('help', async () => {
    expect(await dlab('help')).toMatchSnapshot();
  });

  it("a command's help: dlab help check, dlab replay --help", async () => {
    expect(await dlab('help', 'check')).toMatchSnapshot();
    expect(await dlab('replay', '--help')).toMatchSnapshot();
  });

  it('errors: unknown command, unknown exercise, bad flag value', async () => {
    expect(await dlab('nope')).toMatchSnapshot();
    expect(await dlab('hint', 'vector-clock')).toMatchSnapshot();
    expect(await dlab('hint', 'no-such-thing')).toMatchSnapshot();
    expect(await dlab('restore', ID, '--at', 'x')).toMatchSnapshot();
  });

  it('errors: typos get the nearest name; a replay seed no test uses; --json errors', async () => {
    expect(await dlab('chek', ID)).toMatchSnapshot();
    expect(await dlab('check', ID, '--tagret', 'solutions')).toMatchSnapshot();
    expect(await dlab('replay', ID, '--seed', '12345')).toMatchSnapshot();
    expect(await dlab('replay', ID, '--seed', '-5')).toMatchSnapshot();
    expect(await dlab('hint', 'no-such-thing', '--json')).toMatchSnapshot();
  });

  it('hint, one level at a time', async () => {
    expect(await dlab('hint', ID)).toMatchSnapshot();
    expect(await dlab('hint', ID)).toMatchSnapshot();
  });

  it('diff asks first without a terminal, then shows a unified diff with --yes', async () => {
    expect(await dlab('diff', ID)).toMatchSnapshot();
    expect(await dlab('diff', ID, '--yes', '--unified')).toMatchSnapshot();
  });

  it('check: a pass as JSON, and a mutant rejected with its property and replay command', async () => {
    expect(await dlab('check', ID, '--target', 'solutions', '--json')).toMatchSnapshot();
    expect(await dlab('check', ID, '--target', 'mutant:compare-by-sum')).toMatchSnapshot();
  });

  it('restore and reset without anything to do', async () => {
    expect(await dlab('restore', ID, '--list')).toMatchSnapshot();
    expect(await dlab('reset', ID)).toMatchSnapshot();
  });
});
