// @ts-check
// `npm install` runs this (the `prepare` script): builds the CLI bundle (see bundle.mjs). A failure never
// fails the install: dlab then runs from the TypeScript sources, slower, and tries to build again.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCli } from './bundle.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
try {
  await buildCli(root);
} catch (e) {
  process.stderr.write(`dlab: could not build the CLI bundle, so dlab will run from its TypeScript sources (slower): ${/** @type {Error} */ (e).message.split('\n')[0]}\n`);
}
