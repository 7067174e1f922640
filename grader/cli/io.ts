// The streams and terminal facts a command uses; injected, so every command can be tested without a TTY.
import type { Readable } from 'node:stream';

export interface Out {
  write(s: string): unknown;
}

export interface Io {
  readonly stdout: Out;
  readonly stderr: Out;
  readonly stdin: Readable & { isTTY?: boolean; setRawMode?: (on: boolean) => unknown };
  /** Both stdin and stdout are terminals: prompts and keys are allowed. */
  readonly interactive: boolean;
  readonly color: boolean;
  readonly columns: number;
  /** The terminal's height, for screens that must fit (watch mode). */
  readonly rows: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export function processIo(): Io {
  const env = process.env;
  const outTTY = process.stdout.isTTY === true;
  const noColor = (env['NO_COLOR'] ?? '') !== '' || env['TERM'] === 'dumb';
  const force = env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0';
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    interactive: outTTY && process.stdin.isTTY === true,
    color: force || (outTTY && !noColor),
    columns: process.stdout.columns ?? (Number(env['COLUMNS']) || 80),
    rows: process.stdout.rows ?? (Number(env['LINES']) || 24),
    env,
    cwd: process.cwd(),
  };
}

export interface Paint {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\u001b[${open}m${s}\u001b[${close}m`;

export function paint(io: Pick<Io, 'color'>): Paint {
  if (!io.color) {
    const id = (s: string) => s;
    return { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id };
  }
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

export function line(out: Out, s = ''): void {
  out.write(s + '\n');
}
