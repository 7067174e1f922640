#!/usr/bin/env node
// The `dlab` command: runs the CLI from its JavaScript bundle (bundle.mjs), rebuilding it first when a file it
// was built from has changed; when there is no bundle to be had, registers tsx and runs the TypeScript sources.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnWorker } from '../runner/spawn-worker.mjs';
import { buildCli, discardBuild, freshEntry } from './bundle.mjs';

const argv = process.argv.slice(2);
// `dlab check | head`: the reader went away. Drop the rest of the output quietly and finish, so that the
// exit code is still the command's own (a failing check stays 1 under `set -o pipefail`).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    const code = /** @type {NodeJS.ErrnoException} */ (e).code;
    if (code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED') return;
    throw e;
  });
}
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// A command that grades starts its workers now: they load vitest while this process loads the CLI. watch splits
// the hidden tests across two (grader/runner/shards.ts, SHARDS); check and share across one, or two for an
// exercise on real sockets, whose second worker the runner starts once the exercise is known (checkShards).
const GRADING = new Map([['check', 1], ['watch', 2], ['replay', 1], ['compare', 1], ['share', 1]]);
const early = argv[0] === 'progress' && argv.includes('--recheck') ? 2 : (GRADING.get(argv[0] ?? '') ?? 0);
if (early > 0 && !argv.includes('--help') && !argv.includes('-h')) {
  // check, replay, compare and share grade one job per worker; watch, --all and --recheck grade many.
  const oneJob = argv[0] !== 'watch' && argv[0] !== 'progress' && !argv.includes('--all');
  /** @type {any} */ (globalThis).__dlabEarlyWorkers = { children: Array.from({ length: early }, () => spawnWorker(root, undefined, { oneJob })), root };
}

/** @param {string | undefined} why */
const fromSource = async (why) => {
  if (why !== undefined) process.stderr.write(`dlab: running from the TypeScript sources (slower): ${why}\n`);
  const { register } = await import('tsx/esm/api');
  register();
  return import('../cli/main.ts');
};
const firstLine = (/** @type {unknown} */ e) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

// Stack traces (printed under DLAB_DEBUG) then name the TypeScript sources, not the bundle's chunks.
if (process.env['DLAB_DEBUG'] !== undefined) process.setSourceMapsEnabled(true);

/** @returns {Promise<typeof import('../cli/main.ts')>} */
async function loadCli() {
  // For whoever suspects the bundle: the sources as they are, through tsx, as before there was one.
  if ((process.env['DLAB_FROM_SOURCE'] ?? '') !== '') return fromSource(undefined);
  let entry = freshEntry(root);
  if (entry === undefined) {
    try {
      entry = await buildCli(root);
    } catch (e) {
      return fromSource(`the CLI bundle could not be built: ${firstLine(e)}`);
    }
  }
  try {
    return await import(entry);
  } catch (e) {
    // A bundle whose files went missing, for one: the next start builds it again.
    discardBuild(root);
    return fromSource(`the CLI bundle did not load: ${firstLine(e)}`);
  }
}

process.exitCode = await (await loadCli()).main(argv);
// Not taken (the command stopped before grading): their IPC channels would keep this process alive.
for (const child of /** @type {any} */ (globalThis).__dlabEarlyWorkers?.children ?? []) child.kill('SIGKILL');
