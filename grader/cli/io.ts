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

/** What colour needs to know of a stream: a tty.WriteStream has both. */
export interface ColorStream {
  readonly isTTY?: boolean;
  getColorDepth?(env?: object): number;
}

/**
 * Whether output to `stream` is coloured. The one place that decides, by Node's own documented rules
 * (util.styleText, tty.WriteStream#getColorDepth and #hasColors), without Node's warning when both kinds
 * of variable are set:
 * - FORCE_COLOR, when set, decides alone, terminal or not: '1', '2', '3' (16, 256, 16 million colours; Node
 *   reads '' and 'true' as '1') colour; '0' and anything else mean no colour. It overrides NO_COLOR.
 * - Otherwise only a terminal is coloured, and not when NO_COLOR or NODE_DISABLE_COLORS is set (to
 *   anything) or TERM is 'dumb'; then the terminal decides (getColorDepth() > 2: it must take 16 colours).
 */
export function colorEnabled(env: Readonly<Record<string, string | undefined>>, stream: ColorStream): boolean {
  const force = env['FORCE_COLOR'];
  if (force !== undefined) return force === '' || force === 'true' || force === '1' || force === '2' || force === '3';
  if (stream.isTTY !== true) return false;
  if (env['NO_COLOR'] !== undefined || env['NODE_DISABLE_COLORS'] !== undefined || env['TERM'] === 'dumb') return false;
  return typeof stream.getColorDepth === 'function' ? stream.getColorDepth(env) > 2 : true;
}

export function processIo(): Io {
  const env = process.env;
  const outTTY = process.stdout.isTTY === true;
  const color = colorEnabled(env, process.stdout);
  // Packages that colour on their own read these variables (chalk under marked-terminal; picocolors under
  // @clack/prompts, which ignores NODE_DISABLE_COLORS and reads FORCE_COLOR=0 as "force"): make them agree.
  if (!color) {
    env['NO_COLOR'] = '1';
    env['FORCE_COLOR'] = '0';
  } else if (env['FORCE_COLOR'] !== undefined) {
    delete env['NO_COLOR'];
  }
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    interactive: outTTY && process.stdin.isTTY === true,
    color,
    // Without a terminal: COLUMNS when set, else 80.
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
