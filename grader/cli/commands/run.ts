// `dlab run <id>`: starts a socket exercise's world on loopback (your code plus the servers around it),
// prints the ports and the commands to try it with real clients, and stops it all on Ctrl-C or SIGTERM.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DlabExit, fail } from '../../core/errors.ts';
import { materialize, parseTarget } from '../../runner/targets.ts';
import { shown } from '../../core/paths.ts';
import type { Context } from '../context.ts';
import { line, paint } from '../io.ts';

export interface RunOptions {
  /** `exercises` (default: your code), `solutions` (the reference), or the path of a .ts file. */
  readonly target?: string | undefined;
  /** Resolves when the world should stop; by default the first SIGINT or SIGTERM. Tests pass their own. */
  readonly until?: Promise<void>;
}

/** The first SIGINT or SIGTERM, as a promise; the handlers are removed once it fires. */
function signal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function run(ctx: Context, id: string | undefined, opts: RunOptions = {}): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const ex = ctx.exercise(id);
  if (ex.kind !== 'sockets') fail('bad-usage', `dlab run is for the socket exercises (chapter 02); ${ex.id} is checked with \`npx dlab check ${ex.id}\``);

  const target = opts.target ?? 'exercises';
  const parsed = parseTarget(ex, target, io.cwd);
  if (!parsed.ok) throw new DlabExit(parsed.error);
  // A mutant lives in a scratch copy outside the repo, where the harness aliases do not resolve.
  if (parsed.value.kind === 'mutant') fail('bad-target', `dlab run takes --target exercises, solutions or a .ts file, not '${target}'`);
  const built = materialize(ex, parsed.value, ctx.root);
  if (!built.ok) throw new DlabExit(built.error);
  const entry = built.value;

  const [{ WORLDS, WorldError }, { loadPki }, { tsImport }] = await Promise.all([
    import('../../../harness/net/worlds.ts'),
    import('../../../harness/net/pki.ts'),
    import('tsx/esm/api'),
  ]);
  const world = WORLDS[ex.id];
  if (world === undefined) fail('bad-usage', `${ex.id} has no world for dlab run yet`);

  let impl: Record<string, unknown>;
  try {
    // The exercise's own tsconfig, so that its `@dlab/harness` imports resolve from any working directory.
    impl = (await tsImport(pathToFileURL(entry).href, { parentURL: import.meta.url, tsconfig: join(ctx.root, 'tsconfig.json') })) as Record<string, unknown>;
  } catch (e) {
    fail('io', `${shown(entry, io.cwd)} did not load: ${(e as Error).message.split('\n')[0]}`, `fix it, or try the reference: npx dlab run ${ex.id} --target solutions`);
  }

  const pki = loadPki();
  const log = (s: string) => line(io.stdout, p.dim(s));
  let running;
  try {
    running = await world(impl, { pki, log });
  } catch (e) {
    const why = e instanceof WorldError ? e.message : (e as Error).message.split('\n')[0];
    fail('io', `the world of ${ex.id} did not start: ${why}`, target === 'exercises' ? `finish ${shown(entry, io.cwd)}, or try the reference: npx dlab run ${ex.id} --target solutions` : undefined);
  }
  line(io.stdout, p.bold(`${ex.id}${target === 'exercises' ? '' : ` [${target}]`}`));
  for (const l of running.banner) line(io.stdout, l);
  line(io.stdout, '');
  line(io.stdout, p.dim('Ctrl-C stops everything.'));

  await (opts.until ?? signal());
  // A close() that never finishes (yours, while you work on it) must not keep the terminal hostage.
  const closed = await Promise.race([running.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000).unref())]);
  if (!closed) {
    line(io.stderr, `dlab: close() did not finish within 3 s; something still holds a socket open (press Ctrl-C again to force the exit)`);
    return 1;
  }
  line(io.stdout, p.dim('stopped.'));
  return 0;
}
