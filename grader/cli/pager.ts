// Long output in a terminal goes through a pager: `$PAGER`, else `less -R`, else it is printed as it is.
// Never without a terminal (pipes, editors, `--json`): there the text is written whole.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Io } from './io.ts';
import { visibleWidth } from './render.ts';

/** How `page` showed the text: through a pager, or written out as it is. */
export type Shown = 'paged' | 'printed';

/** Screen lines `text` takes in a terminal `columns` wide (a long line wraps onto several). */
export function screenLines(text: string, columns: number): number {
  const lines = text.replace(/\n$/, '').split('\n');
  return lines.reduce((n, l) => n + Math.max(1, Math.ceil(visibleWidth(l) / Math.max(1, columns))), 0);
}

/** The program a command line would run, if it is there to run: found on PATH, or a path that is executable. */
function findProgram(command: string, env: Io['env']): boolean {
  const name = command.trim().split(/\s+/)[0] ?? '';
  if (name === '') return false;
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return runnable(isAbsolute(name) ? name : join(process.cwd(), name));
  return (env['PATH'] ?? '').split(delimiter).some((dir) => dir !== '' && runnable(join(dir, name)));
}

/** Runs a pager with `text` on its stdin and waits until the learner quits it; false when it could not start. */
function runPager(command: string, args: readonly string[], shell: boolean, text: string, io: Io): Promise<boolean> {
  return new Promise((resolve) => {
    // As git does: less keeps colours (R), leaves the text on screen when quit (X), and quits at once on a
    // screen's worth (F); a LESS of the learner's own wins.
    const env = { ...io.env, LESS: io.env['LESS'] ?? 'FRX', LV: io.env['LV'] ?? '-c' };
    // Ctrl-C in the pager is the pager's: dlab waits for it rather than dying under it.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    let started = false;
    const done = (ok: boolean) => {
      process.removeListener('SIGINT', ignore);
      resolve(ok);
    };
    let child;
    try {
      child = spawn(command, [...args], { shell, stdio: ['pipe', 'inherit', 'inherit'], env });
    } catch {
      done(false);
      return;
    }
    child.on('spawn', () => (started = true));
    child.on('error', () => done(started));
    // A shell that cannot find the command exits 127 (126: found but not runnable) without showing anything.
    child.on('exit', (code) => done(started && !(shell && (code === 127 || code === 126))));
    // A pager quit before the end closes its input: the rest is not wanted.
    child.stdin.on('error', () => undefined);
    child.stdin.end(text);
  });
}

/**
 * Shows `text` (ending in a newline) on io.stdout: through a pager when io is a terminal and the text is
 * longer than its screen, else written as it is. The pager is `$PAGER` (run by the shell, so it may carry
 * arguments), else `less -R`; when neither can run, the text is written as it is.
 */
export async function page(io: Io, text: string): Promise<Shown> {
  if (!io.interactive || screenLines(text, io.columns) < io.rows) {
    io.stdout.write(text);
    return 'printed';
  }
  const fromEnv = io.env['PAGER'];
  // An empty PAGER, or `cat`, means "no pager", as for git and man.
  if (fromEnv !== undefined && (fromEnv.trim() === '' || fromEnv.trim() === 'cat')) {
    io.stdout.write(text);
    return 'printed';
  }
  if (fromEnv !== undefined && findProgram(fromEnv, io.env) && (await runPager(fromEnv, [], true, text, io))) return 'paged';
  if (findProgram('less', io.env) && (await runPager('less', ['-R'], false, text, io))) return 'paged';
  io.stdout.write(text);
  return 'printed';
}
