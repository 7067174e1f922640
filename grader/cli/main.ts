// The `dlab` command line: parses arguments, runs one command, and is the only place errors are printed.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DlabExit, exitCodeFor, type DlabError } from '../core/errors.ts';
import type { Context } from './context.ts';
import { line, processIo, type Io } from './io.ts';

type Values = Record<string, string | boolean | undefined>;

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options?: ParseArgsConfig['options'];
  /** How many positional arguments it takes at most. */
  readonly maxArgs: number;
  run(ctx: Context, args: string[], values: Values): Promise<number>;
}

const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function int(v: string | boolean | undefined, flag: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new DlabExit({ code: 'bad-usage', message: `${flag} takes a whole number, not '${s}'` });
  return Number(s);
}

const json = { json: { type: 'boolean' } } as const;
const targetOpt = { target: { type: 'string' } } as const;

const COMMANDS: Record<string, Command> = {
  next: {
    summary: 'make the first unfinished exercise current: show its lesson and the file to edit',
    usage: 'dlab next',
    maxArgs: 0,
    run: async (ctx) => (await import('./commands/learn.ts')).next(ctx),
  },
  list: {
    summary: 'every exercise in order, with its status',
    usage: 'dlab list [--json]',
    options: json,
    maxArgs: 0,
    run: async (ctx, _a, v) => (await import('./commands/learn.ts')).list(ctx, { json: v['json'] === true }),
  },
  lesson: {
    summary: "show an exercise's lesson (default: the current exercise)",
    usage: 'dlab lesson [id]',
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/learn.ts')).lesson(ctx, a[0]),
  },
  check: {
    summary: 'grade an exercise once against the hidden tests',
    usage: 'dlab check [id] [--json] [--target exercises|solutions|mutant:NAME|PATH] [--explore N]',
    options: { ...json, ...targetOpt, explore: { type: 'string' } },
    maxArgs: 1,
    run: async (ctx, a, v) =>
      (await import('./commands/grade.ts')).check(ctx, a[0], { json: v['json'] === true, target: str(v['target']), explore: int(v['explore'], '--explore') }),
  },
  watch: {
    summary: 're-grade on every save of the exercise file (keys in a terminal: h d c n l r q)',
    usage: 'dlab watch [id] [--poll] [--json]',
    options: { poll: { type: 'boolean' }, ...json },
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/watch.ts')).watch(ctx, a[0], { poll: v['poll'] === true, json: v['json'] === true }),
  },
  hint: {
    summary: 'reveal the next of three hints (a nudge, the idea, the near-answer)',
    usage: 'dlab hint [id]',
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/learn.ts')).hint(ctx, a[0]),
  },
  diff: {
    summary: 'your file beside the reference solution (asks first if you have not passed)',
    usage: 'dlab diff [id] [--yes] [--unified]',
    options: { yes: { type: 'boolean', short: 'y' }, unified: { type: 'boolean' } },
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/solution.ts')).diff(ctx, a[0], { yes: v['yes'] === true, unified: v['unified'] === true }),
  },
  compare: {
    summary: "your code's behaviour beside the reference's on the same seeds (messages, latency, rounds)",
    usage: 'dlab compare [id]',
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/solution.ts')).compare(ctx, a[0]),
  },
  reset: {
    summary: 'put the untouched stub back (your code is kept as a snapshot first)',
    usage: 'dlab reset [id] [--yes]',
    options: { yes: { type: 'boolean', short: 'y' } },
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/snapshots.ts')).reset(ctx, a[0], { yes: v['yes'] === true }),
  },
  restore: {
    summary: 'bring back your latest snapshot (kept at every graded attempt and every reset)',
    usage: 'dlab restore [id] [--list] [--at N]',
    options: { list: { type: 'boolean' }, at: { type: 'string' } },
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/snapshots.ts')).restore(ctx, a[0], { list: v['list'] === true, at: int(v['at'], '--at') }),
  },
  export: {
    summary: 'write all your progress to a file, to move it to another machine',
    usage: 'dlab export FILE',
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/snapshots.ts')).exportProgress(ctx, a[0]),
  },
  import: {
    summary: 'merge progress written by `dlab export` into this machine',
    usage: 'dlab import FILE',
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/snapshots.ts')).importProgress(ctx, a[0]),
  },
  progress: {
    summary: 'what you have passed, attempted, and how many hints you used',
    usage: 'dlab progress [--json]',
    options: json,
    maxArgs: 0,
    run: async (ctx, _a, v) => (await import('./commands/learn.ts')).progress(ctx, { json: v['json'] === true }),
  },
  replay: {
    summary: 'replay one failing case (seed and path from a failure report) and print its full trace',
    usage: 'dlab replay <id> --seed S [--path P] [--target exercises|solutions|mutant:NAME|PATH]',
    options: { seed: { type: 'string' }, path: { type: 'string' }, ...targetOpt },
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/grade.ts')).replay(ctx, a[0], { seed: str(v['seed']), path: str(v['path']), target: str(v['target']) }),
  },
  history: {
    summary: 'check Jepsen or EDN history files for linearizability',
    usage: 'dlab history check FILE... --model register|cas-register|kv [--init VALUE] [--strict-nil] [--json]',
    options: { ...json, model: { type: 'string' }, init: { type: 'string' }, 'strict-nil': { type: 'boolean' } },
    maxArgs: Number.POSITIVE_INFINITY,
    run: async (ctx, a, v) => {
      if (a[0] !== 'check') throw new DlabExit({ code: 'bad-usage', message: `no command 'history ${a[0] ?? ''}'`.trimEnd(), next: 'usage: dlab history check FILE... --model register|cas-register|kv' });
      const { historyCheck } = await import('../../harness/lincheck/cli.ts');
      const model = str(v['model']);
      const init = str(v['init']);
      return historyCheck(
        { files: a.slice(1), model: model ?? '', json: v['json'] === true, strictNil: v['strict-nil'] === true, ...(init === undefined ? {} : { init }) },
        ctx.io,
      );
    },
  },
  run: {
    summary: "start a socket exercise's world on loopback (your code and the servers around it) to try with curl or openssl",
    usage: 'dlab run <id> [--target exercises|solutions|FILE.ts]',
    options: targetOpt,
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/run.ts')).run(ctx, a[0], { target: str(v['target']) }),
  },
  verify: {
    summary: 'for course authors: prove every exercise sound (solution passes, stub fails, mutants rejected)',
    usage: 'dlab verify [--json] [--only id] [--seeds N] [--no-cache] [--stress]',
    options: { ...json, only: { type: 'string' }, seeds: { type: 'string' }, 'no-cache': { type: 'boolean' }, stress: { type: 'boolean' } },
    maxArgs: 0,
    run: async (ctx, _a, v) =>
      (await import('./commands/verify.ts')).verify(ctx, {
        json: v['json'] === true,
        only: str(v['only']),
        seeds: int(v['seeds'], '--seeds'),
        cache: v['no-cache'] !== true,
        stress: v['stress'] === true,
      }),
  },
};

function help(io: Io): void {
  line(io.stdout, 'dlab: a distributed-systems lab. Learn by making failing tests pass.\n');
  line(io.stdout, 'Usage:');
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  for (const c of Object.values(COMMANDS)) line(io.stdout, `  ${c.usage.padEnd(Math.min(width, 44))}  ${c.summary}`);
  line(io.stdout, '\nStart with `npx dlab next`. Exit codes: 0 pass/success, 1 fail, 2 bad input.');
}

function printError(io: Io, e: DlabError): void {
  line(io.stderr, `dlab: ${e.message}`);
  if (e.next !== undefined) line(io.stderr, `  next: ${e.next}`);
}

/** Runs one command line and returns the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  // Plain `dlab` in a terminal does what a learner most often wants: watch the current exercise.
  if (name === undefined && io.interactive) return main(['watch'], io);
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    help(io);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    line(io.stdout, '0.1.0');
    return 0;
  }
  const cmd = COMMANDS[name];
  if (cmd === undefined) {
    printError(io, { code: 'unknown-command', message: `no command '${name}'`, next: 'run `npx dlab help` for the list' });
    return 2;
  }
  // Loaded only now: the course and the progress store (better-sqlite3) are not needed for help or the version.
  const { createContext } = await import('./context.ts');
  const ctx = createContext(io);
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: [...rest], options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new DlabExit({ code: 'bad-usage', message: (e as Error).message.split('\n')[0]!, next: `usage: ${cmd.usage}` });
    }
    if (parsed.values['help'] === true) {
      line(io.stdout, `${cmd.usage}\n  ${cmd.summary}`);
      return 0;
    }
    if (parsed.positionals.length > cmd.maxArgs) {
      throw new DlabExit({ code: 'bad-usage', message: `too many arguments: ${parsed.positionals.join(' ')}`, next: `usage: ${cmd.usage}` });
    }
    return await cmd.run(ctx, parsed.positionals, parsed.values as Values);
  } catch (e) {
    if (e instanceof DlabExit) {
      printError(io, e.error);
      return exitCodeFor(e.error);
    }
    const msg = e instanceof Error ? e.message : String(e);
    printError(io, { code: 'io', message: `internal error: ${msg.split('\n')[0]}`, next: 'this is a bug in dlab; run again with DLAB_DEBUG=1 for the stack trace and report it' });
    if (io.env['DLAB_DEBUG'] !== undefined && e instanceof Error) line(io.stderr, e.stack ?? '');
    return 1;
  } finally {
    ctx.close();
  }
}
