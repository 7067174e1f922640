// The `dlab` command line: parses arguments, runs one command, and is the only place errors are printed.
// It loads on every start (`dlab list`, `--version`, `--help`): it imports nothing heavy; commands load their
// own modules when they run.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DlabExit, exitCodeFor, type DlabError } from '../core/errors.ts';
import type { Context } from './context.ts';
import { line, processIo, type Io } from './io.ts';

type Values = Record<string, string | boolean | undefined>;

interface Option {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** The value's name in help and usage: `--target T`. */
  readonly value?: string;
  /** Shown in the usage line without brackets. */
  readonly required?: boolean;
  /** One line: what it does. */
  readonly help: string;
}

interface Command {
  /** One line, for the list of commands. */
  readonly summary: string;
  /** The positional arguments as the usage line writes them: `[id]`, `<id>`, `FILE`, `check FILE...`. */
  readonly args?: string;
  /** Each positional argument explained, one line each. */
  readonly argHelp?: ReadonlyArray<readonly [string, string]>;
  readonly options?: Readonly<Record<string, Option>>;
  /** What else to know, a short paragraph. */
  readonly more?: string;
  readonly examples: readonly string[];
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

const ID_ARG = ['id', 'full id, slug or name of the exercise (default: the current one)'] as const;
const ID_REQUIRED = ['id', 'full id, slug or name of the exercise, as `dlab list` shows them'] as const;
const jsonOpt = (help: string) => ({ json: { type: 'boolean', help } }) as const;
const TARGETS = 'exercises (yours; default), solutions, mutant:NAME, or a path';
const PATHS = 'A path is a .ts file (a folder for a multi-file exercise) or a .patch against the reference.';

const COMMANDS: Record<string, Command> = {
  next: {
    summary: 'make the first unfinished exercise current: show its lesson and the file to edit',
    more: 'In a terminal it then offers to start `dlab watch`; without one it returns at once.',
    examples: ['npx dlab next'],
    maxArgs: 0,
    run: async (ctx) => (await import('./commands/learn.ts')).next(ctx),
  },
  list: {
    summary: 'every exercise in order, with its status',
    options: jsonOpt('print [{id, chapter, title, status, stub, lesson}]'),
    examples: ['npx dlab list', 'npx dlab list --json'],
    maxArgs: 0,
    run: async (ctx, _a, v) => (await import('./commands/learn.ts')).list(ctx, { json: v['json'] === true }),
  },
  lesson: {
    summary: "show an exercise's lesson (default: the current exercise)",
    args: '[id]',
    argHelp: [ID_ARG],
    options: jsonOpt('print {id, title, chapter, lesson, stub, edit, markdown}'),
    examples: ['npx dlab lesson vector-clocks'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/learn.ts')).lesson(ctx, a[0], { json: v['json'] === true }),
  },
  check: {
    summary: 'grade an exercise once against the hidden tests',
    args: '[id]',
    argHelp: [ID_ARG],
    options: {
      json: { type: 'boolean', help: 'print the verdict as JSON (shape in the README)' },
      target: { type: 'string', value: 'T', help: TARGETS },
      explore: { type: 'string', value: 'N', help: 'also run N fresh seed families after a pass; exit 1 if any fails' },
      all: { type: 'boolean', help: 're-grade every exercise you passed; exit 1 if one fails now' },
    },
    more: `Grading stops at the first failing test. A graded run of your own code is recorded as an attempt. ${PATHS} With --all (no id), a regression is recorded as a failed attempt.`,
    examples: ['npx dlab check', 'npx dlab check vector-clocks --target solutions --explore 20', 'npx dlab check --all'],
    maxArgs: 1,
    run: async (ctx, a, v) => {
      if (v['all'] === true) {
        const extra = a[0] !== undefined ? a[0] : v['target'] !== undefined ? '--target' : v['explore'] !== undefined ? '--explore' : undefined;
        if (extra !== undefined) fail(`check --all re-grades every exercise you passed, so it takes no ${a[0] !== undefined ? `exercise (got ${extra})` : extra}`, 'npx dlab check --all [--json]');
        return (await import('./commands/recheck.ts')).recheck(ctx, { json: v['json'] === true });
      }
      return (await import('./commands/grade.ts')).check(ctx, a[0], { json: v['json'] === true, target: str(v['target']), explore: int(v['explore'], '--explore') });
    },
  },
  watch: {
    summary: 're-grade on every save of the exercise file (keys in a terminal: h d c n l r q)',
    args: '[id]',
    argHelp: [ID_ARG],
    options: {
      poll: { type: 'boolean', help: 'poll the files instead of waiting for events (network drives, WSL)' },
      json: { type: 'boolean', help: 'print one JSON event per line: run-start, verdict (see the README)' },
    },
    more: 'Keys in a terminal: h hint, d diff, c compare, n next (after a pass), l pick an exercise, r re-run, q quit.',
    examples: ['npx dlab watch', 'npx dlab watch vector-clocks --json'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/watch.ts')).watch(ctx, a[0], { poll: v['poll'] === true, json: v['json'] === true }),
  },
  hint: {
    summary: 'reveal the next of three hints (a nudge, the idea, the near-answer)',
    args: '[id]',
    argHelp: [ID_ARG],
    options: jsonOpt('print {id, revealed, hints: [{level, kind, text}]}'),
    examples: ['npx dlab hint', 'npx dlab hint vector-clocks --json'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/learn.ts')).hint(ctx, a[0], { json: v['json'] === true }),
  },
  diff: {
    summary: 'your file beside the reference solution (asks first if you have not passed)',
    args: '[id]',
    argHelp: [ID_ARG],
    options: {
      yes: { type: 'boolean', short: 'y', help: 'show it without asking, even before you have passed' },
      unified: { type: 'boolean', help: 'a unified diff, never two columns side by side' },
    },
    more: 'Side by side when the terminal is 110 columns or wider. Looking is recorded in your progress.',
    examples: ['npx dlab diff vector-clocks --yes --unified'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/solution.ts')).diff(ctx, a[0], { yes: v['yes'] === true, unified: v['unified'] === true }),
  },
  compare: {
    summary: "your code's behaviour beside the reference's on the same seeds (messages, latency, rounds)",
    args: '[id]',
    argHelp: [ID_ARG],
    options: jsonOpt('print {id, passed, threw, failure, metrics} (shape in the README)'),
    more: 'Your code runs every test; when it throws, it has no figures, and dlab says what it threw.',
    examples: ['npx dlab compare lamport-ordering'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/solution.ts')).compare(ctx, a[0], { json: v['json'] === true }),
  },
  reset: {
    summary: 'put the untouched stub back (your code is kept as a snapshot first)',
    args: '[id]',
    argHelp: [ID_ARG],
    options: { yes: { type: 'boolean', short: 'y', help: 'reset without asking (needed without a terminal)' } },
    examples: ['npx dlab reset vector-clocks --yes'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/snapshots.ts')).reset(ctx, a[0], { yes: v['yes'] === true }),
  },
  restore: {
    summary: 'bring back your latest snapshot (kept at every graded attempt and every reset)',
    args: '[id]',
    argHelp: [ID_ARG],
    options: {
      list: { type: 'boolean', help: 'list the snapshots with their numbers; restore nothing' },
      at: { type: 'string', value: 'N', help: 'restore snapshot number N (from --list), not the latest' },
    },
    examples: ['npx dlab restore vector-clocks --list', 'npx dlab restore vector-clocks --at 3'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/snapshots.ts')).restore(ctx, a[0], { list: v['list'] === true, at: int(v['at'], '--at') }),
  },
  export: {
    summary: 'write all your progress to a file, to move it to another machine',
    args: 'FILE',
    argHelp: [['FILE', 'the file to write (JSON)']],
    examples: ['npx dlab export my-progress.json'],
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/snapshots.ts')).exportProgress(ctx, a[0]),
  },
  import: {
    summary: 'merge progress written by `dlab export` into this machine',
    args: 'FILE',
    argHelp: [['FILE', 'a file `dlab export` wrote']],
    more: 'Importing merges: rows already here are skipped, so importing twice adds nothing.',
    examples: ['npx dlab import my-progress.json'],
    maxArgs: 1,
    run: async (ctx, a) => (await import('./commands/snapshots.ts')).importProgress(ctx, a[0]),
  },
  progress: {
    summary: 'what you have passed, attempted, and how many hints you used',
    options: {
      json: { type: 'boolean', help: 'print {current, passed, total, exercises} (shape in the README)' },
      recheck: { type: 'boolean', help: 'instead, re-grade every exercise you passed (as check --all)' },
    },
    examples: ['npx dlab progress', 'npx dlab progress --recheck'],
    maxArgs: 0,
    run: async (ctx, _a, v) =>
      v['recheck'] === true
        ? (await import('./commands/recheck.ts')).recheck(ctx, { json: v['json'] === true })
        : (await import('./commands/learn.ts')).progress(ctx, { json: v['json'] === true }),
  },
  replay: {
    summary: 'replay one failing case (seed and path from a failure report) and print its full trace',
    args: '<id>',
    argHelp: [ID_REQUIRED],
    options: {
      seed: { type: 'string', value: 'S', required: true, help: 'the seed the failure report printed' },
      path: { type: 'string', value: 'P', help: "the path it printed, like 0:1:3 (default: all the seed's runs)" },
      target: { type: 'string', value: 'T', help: TARGETS },
      json: { type: 'boolean', help: 'print {id, target, seed, path, passed, report}' },
      file: { type: 'string', value: 'F', help: 'instead of <id> and --seed: a case `dlab share` wrote' },
      from: { type: 'string', value: 'MS', help: 'diagram rows from this time on (virtual ms, as printed)' },
      to: { type: 'string', value: 'MS', help: 'diagram rows up to this time (inclusive)' },
      nodes: { type: 'string', value: 'a,b', help: 'only what happens at these nodes, in this order' },
      'hide-sends': { type: 'boolean', help: 'no send rows in the diagram' },
    },
    more: `Copy the Replay line printed under a failure. Exit 0 if the case passes now, 1 if it fails, 2 for a seed or path the exercise does not have, or a bad --from, --to or --nodes. ${PATHS} A failing simulation case is replayed twice, and dlab says so if the two traces differ. --from, --to, --nodes and --hide-sends narrow a simulation case's space-time diagram: another node still joins on the right when a shown event involves it, and a name that is no node of the run is left out (the diagram's heading says so).`,
    examples: ['npx dlab replay vector-clocks --seed 303 --path 0', 'npx dlab replay network-lies --seed 1001 --from 900 --nodes c,a --hide-sends', 'npx dlab replay --file dlab-share-01-vector-clocks.json'],
    maxArgs: 1,
    run: async (ctx, a, v) => {
      const file = str(v['file']);
      if (file !== undefined) {
        const extra = a[0] ?? (['seed', 'path', 'target'] as const).map((o) => (v[o] === undefined ? undefined : `--${o}`)).find((o) => o !== undefined);
        if (extra !== undefined) fail(`replay --file takes its exercise, seed and path from the file, so not ${extra}`, `npx dlab replay --file ${file}`);
        const viewOpt = (['from', 'to', 'nodes', 'hide-sends'] as const).find((o) => v[o] !== undefined);
        if (viewOpt !== undefined) fail(`replay --file does not take --${viewOpt} yet; replay the file, then the id, seed and path its report prints with --${viewOpt}`, `npx dlab replay --file ${file}`);
        return (await import('./commands/share.ts')).replayFile(ctx, file, { json: v['json'] === true });
      }
      return (await import('./commands/grade.ts')).replay(ctx, a[0], {
        seed: str(v['seed']),
        path: str(v['path']),
        target: str(v['target']),
        json: v['json'] === true,
        from: str(v['from']),
        to: str(v['to']),
        nodes: str(v['nodes']),
        hideSends: v['hide-sends'] === true,
      });
    },
  },
  share: {
    summary: 'write your code and its first failure to one file, for anyone to replay offline',
    args: '[id]',
    argHelp: [ID_ARG],
    options: {
      out: { type: 'string', value: 'FILE', help: 'the file to write (default: dlab-share-<exercise>.json here)' },
      json: { type: 'boolean', help: 'print {file, id, version, passed, headline, seed, path}' },
    },
    more:
      "The file holds every file of the exercise, the seed and path of the first failure (from your last graded attempt, or by grading now), the dlab version and the verdict's headline. `dlab replay --file FILE` replays it, byte for byte, on any copy of the course.",
    examples: ['npx dlab share vector-clocks --out case.json', 'npx dlab replay --file case.json'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/share.ts')).share(ctx, a[0], { out: str(v['out']), json: v['json'] === true }),
  },
  history: {
    summary: 'check Jepsen or EDN history files for linearizability',
    args: 'check FILE...',
    argHelp: [['FILE...', 'Jepsen log or EDN history files, one verdict each']],
    options: {
      model: { type: 'string', value: 'M', required: true, help: 'register, cas-register or kv: the object the history is of' },
      init: { type: 'string', value: 'V', help: "the object's value before the first operation (default: nil)" },
      'strict-nil': { type: 'boolean', help: 'a read of nil reads the value nil (default: unknown, as Knossos)' },
      json: { type: 'boolean', help: 'print [{file, verdict, durationMs, ops, counterexample?}]' },
    },
    more: 'Exit 0 all linearizable, 1 some not, 2 bad input, 3 some unknown (past the search-step budget). See harness/lincheck/README.md.',
    examples: ['npx dlab history check run1.edn run2.log --model cas-register'],
    maxArgs: Number.POSITIVE_INFINITY,
    run: async (ctx, a, v) => {
      if (a[0] !== 'check') {
        const near = a[0] === undefined ? undefined : nearest(a[0], ['check']);
        fail(
          a[0] === undefined ? 'history needs a subcommand: check' : `no command 'history ${a[0]}'${near === undefined ? '' : `; did you mean 'history ${near}'?`}`,
          `usage: ${usage('history', COMMANDS['history']!)}`,
        );
      }
      const [{ historyCheck }, { MODEL_NAMES }] = await Promise.all([import('../../harness/lincheck/cli.ts'), import('../../harness/lincheck/models.ts')]);
      const model = str(v['model']);
      if (model === undefined) fail(`history check needs --model: one of ${MODEL_NAMES.join(', ')}`, `for example: npx dlab history check ${a[1] ?? 'FILE'} --model ${MODEL_NAMES[0]}`);
      const init = str(v['init']);
      return historyCheck(
        { files: a.slice(1), model, json: v['json'] === true, strictNil: v['strict-nil'] === true, ...(init === undefined ? {} : { init }) },
        { stdout: ctx.io.stdout, stderr: ctx.io.stderr, badInput: (reason, next) => fail(reason, next) },
      );
    },
  },
  run: {
    summary: "start a socket exercise's world on loopback (your code and the servers around it) to try with curl or openssl",
    args: '<id>',
    argHelp: [ID_REQUIRED],
    options: { target: { type: 'string', value: 'T', help: 'exercises (yours; default), solutions, or a .ts file' } },
    more: 'For the socket exercises (chapter 02). It prints the ports and the commands to try; Ctrl-C stops everything.',
    examples: ['npx dlab run sidecar-tls', 'npx dlab run sidecar-tls --target solutions'],
    maxArgs: 1,
    run: async (ctx, a, v) => (await import('./commands/run.ts')).run(ctx, a[0], { target: str(v['target']) }),
  },
  verify: {
    summary: 'for course authors: prove every exercise sound (solution passes, stub fails, mutants rejected)',
    options: {
      json: { type: 'boolean', help: 'print one object per exercise (shape in the README)' },
      only: { type: 'string', value: 'ID', help: 'verify this exercise alone' },
      seeds: { type: 'string', value: 'N', help: 'N extra seed families for the solution (default 1)' },
      'no-cache': { type: 'boolean', help: 'grade everything again, ignoring .dlab/cache' },
      stress: { type: 'boolean', help: 'run it all twice, the second time with every core busy' },
    },
    examples: ['npx dlab verify --only vector-clocks --no-cache'],
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

const HELP_OPTION: Option = { type: 'boolean', short: 'h', help: 'show this help' };
const VERSION_WORDS = new Set(['version', '--version', '-v', '-V']);
const HELP_WORDS = new Set(['help', '--help', '-h']);

function fail(message: string, next?: string): never {
  throw new DlabExit(next === undefined ? { code: 'bad-usage', message } : { code: 'bad-usage', message, next });
}

/** The version in package.json, read when asked (never written twice). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours cost 1. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate a typo most likely meant: within a third of its letters (at least one), nearest first. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d <= limit && (best === undefined || d < best.d)) best = { c, d };
  }
  return best?.c;
}

function optionLabel(name: string, o: Option): string {
  return `${o.short === undefined ? '' : `-${o.short}, `}--${name}${o.value === undefined ? '' : ` ${o.value}`}`;
}

function usage(name: string, c: Command): string {
  const opts = Object.entries(c.options ?? {}).map(([n, o]) => {
    const s = `--${n}${o.value === undefined ? '' : ` ${o.value}`}`;
    return o.required === true ? s : `[${s}]`;
  });
  return ['dlab', name, ...(c.args === undefined ? [] : [c.args]), ...opts].join(' ');
}

/** Words of `text` in lines of at most `width` columns (a longer word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let cur = '';
  for (const w of text.split(/\s+/).filter((x) => x !== '')) {
    if (cur === '') cur = w;
    else if (cur.length + 1 + w.length <= width) cur += ` ${w}`;
    else {
      out.push(cur);
      cur = w;
    }
  }
  if (cur !== '' || out.length === 0) out.push(cur);
  return out;
}

/** A paragraph wrapped to the terminal, every line after the first indented by `hang`. */
function para(text: string, width: number, indent = '', hang = indent): string[] {
  const lines = wrap(text, Math.max(20, width - hang.length));
  return lines.map((l, i) => (i === 0 ? indent : hang) + l);
}

/** Two columns: a label and its explanation, wrapped under the explanation's column. */
function table(rows: ReadonlyArray<readonly [string, string]>, width: number, labels: readonly string[] = rows.map(([l]) => l)): string[] {
  const labelWidth = Math.min(Math.max(...labels.map((l) => l.length)), 24);
  const out: string[] = [];
  const hang = ' '.repeat(2 + labelWidth + 2);
  for (const [label, text] of rows) {
    const lines = wrap(text, Math.max(20, width - hang.length));
    if (label.length > labelWidth) {
      out.push(`  ${label}`);
      for (const l of lines) out.push(hang + l);
    } else {
      lines.forEach((l, i) => out.push(i === 0 ? `  ${label.padEnd(labelWidth)}  ${l}` : hang + l));
    }
  }
  return out;
}

const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1) + (/[.)]$/.test(s) ? '' : '.');

function help(io: Io): void {
  const w = io.columns;
  const out: string[] = [
    ...para(`dlab ${version()}: a distributed-systems lab. Learn by making failing tests pass.`, w),
    '',
    'Usage: dlab <command> [arguments] [options]',
    '',
    'Commands:',
    ...table(Object.entries(COMMANDS).map(([n, c]) => [n, c.summary]), w),
    '',
    ...para('`dlab help <command>` (or `dlab <command> --help`) explains a command and every option. In a terminal, `dlab` alone watches the current exercise.', w),
    ...para('Start with `npx dlab next`. Exit codes: 0 pass or success, 1 fail, 2 bad input.', w),
  ];
  line(io.stdout, out.join('\n'));
}

function commandHelp(io: Io, name: string, c: Command): void {
  const w = io.columns;
  const opts = Object.entries({ ...c.options, help: HELP_OPTION }).map(([n, o]) => [optionLabel(n, o), o.help] as const);
  // One column for arguments and options alike.
  const labels = [...(c.argHelp ?? []), ...opts].map(([l]) => l);
  const out: string[] = [
    ...para(usage(name, c), w, 'Usage: ', '         '),
    '',
    ...para(sentence(c.summary) + (c.more === undefined ? '' : ` ${c.more}`), w),
    ...(c.argHelp === undefined ? [] : ['', 'Arguments:', ...table(c.argHelp, w, labels)]),
    '',
    'Options:',
    ...table(opts, w, labels),
    '',
    c.examples.length === 1 ? 'Example:' : 'Examples:',
    ...c.examples.flatMap((e) => para(e, w, '  ', '    ')),
  ];
  line(io.stdout, out.join('\n'));
}

/** The command of that name (`dlab toString` is no command). */
function commandNamed(name: string): Command | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/** `dlab help` and `dlab help <command>`. */
function helpFor(io: Io, topic: string | undefined): number {
  if (topic === undefined || HELP_WORDS.has(topic)) {
    help(io);
    return 0;
  }
  if (VERSION_WORDS.has(topic)) {
    line(io.stdout, 'Usage: dlab version (or dlab --version, -v, -V)\n\nPrints the version of dlab, as package.json gives it.');
    return 0;
  }
  const c = commandNamed(topic);
  if (c === undefined) throw unknownCommand(topic);
  commandHelp(io, topic, c);
  return 0;
}

function unknownCommand(name: string): DlabExit {
  if (name.startsWith('-')) {
    const near = nearest(name.replace(/^-+/, ''), ['help', 'version']);
    return new DlabExit({
      code: 'unknown-command',
      message: `unknown option '${name}'${near === undefined ? '' : `; did you mean --${near}?`}`,
      next: 'options go after the command: dlab <command> [options] (`npx dlab help` lists the commands)',
    });
  }
  const near = nearest(name, [...Object.keys(COMMANDS), 'help', 'version']);
  return new DlabExit({
    code: 'unknown-command',
    message: `no command '${name}'${near === undefined ? '' : `; did you mean '${near}'?`}`,
    next: near !== undefined && COMMANDS[near] !== undefined ? `\`npx dlab help ${near}\` explains it; \`npx dlab help\` lists every command` : '`npx dlab help` lists every command',
  });
}

/**
 * Reads a command's options: every option must be one of the command's, a value option needs its value
 * (a negative number counts as one: `--seed -5`), and a switch takes none. Returns the positionals and values.
 */
function parseOptions(name: string, c: Command, args: readonly string[]): { positionals: string[]; values: Values; help: boolean } {
  const options: Record<string, Option> = { ...c.options, help: HELP_OPTION };
  const parsed = parseArgs({
    args: [...args],
    options: Object.fromEntries(Object.entries(options).map(([n, o]) => [n, o.short === undefined ? { type: o.type } : { type: o.type, short: o.short }])),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const tokens = parsed.tokens;
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { positionals: [], values: {}, help: true };
  const more = `\`npx dlab ${name} --help\` explains every option`;
  for (const t of tokens) {
    if (t.kind !== 'option') continue;
    const o = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (o === undefined) {
      const longs = Object.keys(options);
      const near = t.rawName.startsWith('--') ? nearest(t.name, longs) : undefined;
      fail(`unknown option '${t.rawName}' for dlab ${name}${near === undefined ? '' : `; did you mean --${near}?`}`, `usage: ${usage(name, c)}; ${more}`);
    }
    const label = `--${t.name}`;
    if (o.type === 'boolean' && t.value !== undefined) fail(`${label} takes no value (got '${t.value}')`, `usage: ${usage(name, c)}`);
    if (o.type === 'string') {
      if (t.value === undefined) fail(`${label} needs a value: ${label} ${o.value ?? 'VALUE'}`, `usage: ${usage(name, c)}; ${more}`);
      // `--target --json`: the next word is another option, not this one's value.
      if (t.inlineValue === false && t.value.startsWith('-') && !/^-\d/.test(t.value)) {
        fail(`${label} needs a value: ${label} ${o.value ?? 'VALUE'} (it was followed by the option ${t.value})`, `usage: ${usage(name, c)}`);
      }
    }
  }
  const positionals = parsed.positionals;
  if (positionals.length > c.maxArgs) {
    fail(
      c.maxArgs === 0 ? `dlab ${name} takes no arguments (got ${positionals.join(' ')})` : `too many arguments: ${positionals.join(' ')}`,
      `usage: ${usage(name, c)}`,
    );
  }
  return { positionals, values: parsed.values as Values, help: false };
}

/**
 * Prints an error: a line saying what went wrong and a line with the next step, on stderr; under --json,
 * `{"error": {"code", "message", "next"}}` on stdout instead, where a tool reads the command's output.
 */
function printError(io: Io, e: DlabError, json: boolean): void {
  if (json) {
    line(io.stdout, JSON.stringify({ error: { code: e.code, message: e.message, next: e.next ?? null } }, null, 2));
    return;
  }
  line(io.stderr, `dlab: ${printable(e.message)}`);
  if (e.next !== undefined) line(io.stderr, `  next: ${printable(e.next)}`);
}

/** One line, and no terminal control bytes from a file name or a quoted input: they are shown escaped. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\n' ? ' ' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

/** Runs one command line and returns the exit code. Never throws. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  const end = argv.indexOf('--');
  const json = (end < 0 ? argv : argv.slice(0, end)).includes('--json');
  // Plain `dlab` in a terminal does what a learner most often wants: watch the current exercise.
  if (name === undefined && io.interactive) return main(['watch'], io);
  let ctx: Context | undefined;
  try {
    if (name === undefined || HELP_WORDS.has(name)) return helpFor(io, rest[0]);
    if (VERSION_WORDS.has(name)) {
      line(io.stdout, version());
      return 0;
    }
    const cmd = commandNamed(name);
    if (cmd === undefined) throw unknownCommand(name);
    const parsed = parseOptions(name, cmd, rest);
    if (parsed.help) {
      commandHelp(io, name, cmd);
      return 0;
    }
    // Loaded only now: the course and the progress store (better-sqlite3) are not needed for help or the version.
    const { createContext } = await import('./context.ts');
    ctx = createContext(io);
    return await cmd.run(ctx, parsed.positionals, parsed.values);
  } catch (e) {
    if (e instanceof DlabExit) {
      printError(io, e.error, json);
      return exitCodeFor(e.error);
    }
    const msg = e instanceof Error ? e.message : String(e);
    printError(io, { code: 'internal', message: `internal error: ${msg.split('\n')[0]}`, next: 'this is a bug in dlab; run again with DLAB_DEBUG=1 for the stack trace and report it' }, json);
    if (io.env['DLAB_DEBUG'] !== undefined && e instanceof Error) line(io.stderr, e.stack ?? '');
    return 1;
  } finally {
    ctx?.close();
  }
}
