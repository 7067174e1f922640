#!/usr/bin/env node
// The `dlab` command: registers tsx so the TypeScript sources run as they are, then hands over to the CLI.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnWorker } from '../runner/spawn-worker.mjs';

const argv = process.argv.slice(2);
// A command that grades starts its worker now: the worker loads vitest while this process loads the CLI.
const GRADING = new Set(['check', 'watch', 'replay', 'compare']);
if (GRADING.has(argv[0] ?? '') && !argv.includes('--help') && !argv.includes('-h')) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  /** @type {any} */ (globalThis).__dlabEarlyWorker = { child: spawnWorker(root), root };
}

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(argv);
// Not taken (the command stopped before grading): its IPC channel would keep this process alive.
/** @type {any} */ (globalThis).__dlabEarlyWorker?.child.kill('SIGKILL');
