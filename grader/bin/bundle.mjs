// @ts-check
// The CLI as plain JavaScript: grader/cli/main.ts and every file of the repo it imports, bundled by esbuild
// into .dlab/build/ (git-ignored). Loading TypeScript through tsx costs a loader thread and esbuild on every
// start (~0.3 s before `dlab list` prints anything); the bundle loads like any JavaScript. npm builds it at
// install (`prepare`); grader/bin/dlab.mjs rebuilds it whenever a file it was built from has changed.
//
// Plain JavaScript, and esbuild is imported only to build: this module is loaded on every start.
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where the bundle lives, relative to the repo root. */
export const BUILD_DIR = join('.dlab', 'build');
const MANIFEST = 'manifest.json';
const ENTRY = 'grader/cli/main.ts';
/** Bumped when the manifest's shape or the way the bundle is made changes, so an older build is not used. */
const FORMAT = 1;
/**
 * A file the current build no longer names is deleted only when it is older than this: a `dlab watch`
 * started from the previous build still imports that build's chunks lazily (a key press loads a command).
 */
const KEEP_UNUSED_MS = 24 * 60 * 60 * 1000;

/**
 * The bundle's record of itself, written last (by rename), so a reader that finds it finds every file it names.
 * @typedef {{ format: number; entry: string; outputs: string[]; inputs: Record<string, [number, number]> }} Manifest
 */

/** @param {string} p */
const posix = (p) => p.split(sep).join('/');

/**
 * The bundle's entry as a file URL when the bundle is there and no file it was built from has changed since
 * (same modification time and size, so a file put back with an older time counts as changed too); else
 * undefined. A few stat calls: cheap enough for every start.
 * @param {string} root the repo root
 * @returns {string | undefined}
 */
export function freshEntry(root) {
  const dir = join(root, BUILD_DIR);
  /** @type {Manifest} */
  let m;
  try {
    m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8'));
  } catch {
    return undefined;
  }
  if (m.format !== FORMAT || typeof m.entry !== 'string' || !Array.isArray(m.outputs) || typeof m.inputs !== 'object' || m.inputs === null) return undefined;
  for (const [file, [mtimeMs, size]] of Object.entries(m.inputs)) {
    const s = statSync(join(root, file), { throwIfNoEntry: false });
    if (s === undefined || s.mtimeMs !== mtimeMs || s.size !== size) return undefined;
  }
  // A command's chunk is imported only when the command runs: one deleted by hand would fail there, late.
  for (const name of m.outputs) {
    if (name.endsWith('.js') && statSync(join(dir, name), { throwIfNoEntry: false }) === undefined) return undefined;
  }
  return pathToFileURL(join(dir, m.entry)).href;
}

/**
 * Makes the next start rebuild: for a bundle that was fresh by its manifest but did not load.
 * @param {string} root
 */
export function discardBuild(root) {
  rmSync(join(root, BUILD_DIR, MANIFEST), { force: true });
}

/** @type {Record<string, import('esbuild').Loader>} */
const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.cts': 'ts', '.js': 'js', '.mjs': 'js', '.cjs': 'js', '.json': 'json' };

/**
 * `import.meta.url` (and `.dirname`, `.filename`) in a bundled file would name the bundle's chunk, not the
 * file: code that finds the repo root, the runner's worker or a fixture next to itself would look in
 * .dlab/build/. Each use becomes its file's own location, written relative to the bundle so that a moved or
 * copied checkout still finds it.
 * @param {string} source
 * @param {string} fromBundle the file's path relative to the bundle's folder, as a relative URL
 * @param {string} file the file's path, for the error
 */
function rewriteImportMeta(source, fromBundle, file) {
  const url = `new URL(${JSON.stringify(fromBundle)}, import.meta.url)`;
  const filename = `process.getBuiltinModule("node:url").fileURLToPath(${url})`;
  return source.replace(/\bimport\.meta\b(?:\.([A-Za-z_$][\w$]*))?/g, (_m, /** @type {string | undefined} */ prop) => {
    if (prop === 'url') return `${url}.href`;
    if (prop === 'filename') return filename;
    if (prop === 'dirname') return `process.getBuiltinModule("node:path").dirname(${filename})`;
    throw new Error(`${file} uses import.meta${prop === undefined ? '' : `.${prop}`}, which the CLI bundle cannot keep the meaning of (only .url, .dirname and .filename)`);
  });
}

/**
 * Writes a file by renaming a complete temporary one over it: a process loading the bundle at the same
 * moment sees the old file or the new one, never half of one, and two builds at once cannot interleave.
 * @param {string} file
 * @param {string | Uint8Array} contents
 */
function writeAtomic(file, contents) {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    writeFileSync(tmp, contents);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Builds the bundle into `<root>/.dlab/build/` and returns its entry as a file URL. Safe to run in several
 * processes at once: output names carry a hash of their contents, every file is written by rename, and the
 * manifest goes last.
 * @param {string} root the repo root
 * @returns {Promise<string>}
 */
export async function buildCli(root) {
  root = resolve(root);
  const esbuild = await import('esbuild');
  const outDir = join(root, BUILD_DIR);
  /** @type {Manifest['inputs']} */
  const inputs = {};
  /** @param {string} file @param {import('node:fs').Stats} s */
  const stamp = (file, s) => {
    inputs[posix(relative(root, file))] = [s.mtimeMs, s.size];
  };
  // What shapes the bundle besides its sources: the path aliases, and this recipe.
  for (const f of ['tsconfig.json', 'grader/bin/bundle.mjs']) {
    const s = statSync(join(root, f), { throwIfNoEntry: false });
    if (s !== undefined) stamp(join(root, f), s);
  }
  const skip = Symbol('dlab: resolved by esbuild');

  /** @type {import('esbuild').Plugin} */
  const plugin = {
    name: 'dlab',
    setup(build) {
      // Packages stay imports, resolved at run time from node_modules like any other; the repo's own path
      // aliases (tsconfig `paths`, e.g. @dlab/harness) are bundled as the files they name. esbuild's
      // `packages: 'external'` would leave the aliases as imports, which Node cannot resolve.
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === skip || isAbsolute(args.path)) return undefined;
        const r = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: skip });
        if (r.errors.length > 0) return { errors: r.errors };
        if (r.external || r.path.split(/[\\/]/).includes('node_modules')) return { path: args.path, external: true };
        return { path: r.path, namespace: r.namespace, sideEffects: r.sideEffects, suffix: r.suffix };
      });
      build.onLoad({ filter: /.*/, namespace: 'file' }, (args) => {
        const loader = LOADERS[extname(args.path)];
        if (loader === undefined) return { errors: [{ text: `the CLI bundle has no loader for ${args.path}` }] };
        // The stamp is taken from the very file descriptor the source is read from: a file saved during the
        // build then reads as changed at the next start, never as built.
        const fd = openSync(args.path, 'r');
        let source;
        try {
          stamp(args.path, fstatSync(fd));
          source = readFileSync(fd, 'utf8');
        } finally {
          closeSync(fd);
        }
        const fromBundle = relative(outDir, args.path).split(sep).map(encodeURIComponent).join('/');
        try {
          return { contents: rewriteImportMeta(source, fromBundle, posix(relative(root, args.path))), loader };
        } catch (e) {
          return { errors: [{ text: /** @type {Error} */ (e).message }] };
        }
      });
    },
  };

  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(root, ENTRY)],
    tsconfig: join(root, 'tsconfig.json'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Each command stays its own chunk, loaded when it runs: `dlab list` loads neither the grader nor the
    // linearizability checker, nor the packages only they import.
    splitting: true,
    outdir: outDir,
    entryNames: '[name]-[hash]',
    // For stack traces that name the sources: the bin turns source maps on under DLAB_DEBUG.
    sourcemap: 'linked',
    sourcesContent: false,
    plugins: [plugin],
    write: false,
    metafile: true,
    logLevel: 'silent',
  }).catch((/** @type {unknown} */ e) => {
    // esbuild's own message starts "Build failed with 1 error:"; the error itself says more on one line.
    const first = /** @type {{ errors?: import('esbuild').Message[] }} */ (e).errors?.[0];
    if (first === undefined) throw e;
    // This plugin's errors name their file; esbuild's location would be the line that imports it.
    const where = first.location === null || first.pluginName === 'dlab' ? '' : `${first.location.file}:${first.location.line}: `;
    throw new Error(`${where}${first.text}`);
  });

  mkdirSync(outDir, { recursive: true });
  const outputs = [];
  let entry;
  for (const f of result.outputFiles) {
    const name = basename(f.path);
    if (dirname(f.path) !== outDir) throw new Error(`esbuild wrote ${f.path} outside ${outDir}`);
    writeAtomic(f.path, f.contents);
    outputs.push(name);
  }
  // A command's chunk counts as an entry point too (it is imported dynamically): look for main.ts's.
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint !== undefined && posix(meta.entryPoint) === ENTRY) entry = basename(out);
  }
  if (entry === undefined) throw new Error('esbuild produced no entry file');
  /** @type {Manifest} */
  const manifest = { format: FORMAT, entry, outputs, inputs };
  writeAtomic(join(outDir, MANIFEST), JSON.stringify(manifest) + '\n');
  prune(outDir, new Set([...outputs, MANIFEST]));
  return pathToFileURL(join(outDir, entry)).href;
}

/**
 * Deletes earlier builds' files (and temporary files of builds that died) once they are old enough that no
 * running dlab still loads them.
 * @param {string} outDir
 * @param {Set<string>} keep
 */
function prune(outDir, keep) {
  const now = Date.now();
  for (const name of readdirSync(outDir)) {
    if (keep.has(name)) continue;
    const file = join(outDir, name);
    try {
      if (now - statSync(file).mtimeMs > KEEP_UNUSED_MS) rmSync(file, { force: true });
    } catch {
      /* another build removed it first */
    }
  }
}
