// Bundles tsc's output for the entry points (the CLI, the library, the bench
// and its child) into dist/src/{cli,index,bench,bench-child,bench-floor}.js, with shared
// chunks beside them. Node 20 loads ES modules one at a time (resolve, read,
// compile, link), a cost every CLI run pays (docs/benchmarks.md, "Figures
// behind the code: Startup"); the chunks of the CLI's entry and of its
// provision path are then merged into one module each (merge-chunks.mjs).
// Every output lies in dist/src, so the CommonJS files left as tsc wrote
// them (core/native.cjs, the workers) are imported as ./core/native.cjs from
// all of them; paths made from import.meta.url go through packageRoot()
// (src/core/compiled.ts). piscina (its workers start from its own
// worker.js, found from its __dirname) and execa stay external and load on
// first need. p-queue and smol-toml are bundled into the chunks that use
// them, still loaded on first need: each package imported from
// node_modules costs the loader its resolution, package.json and every
// file (p-queue 9-18 ms of wall against 2-8 ms as a chunk; the registry
// code's chunk 9-10 ms with smol-toml outside it, 5.5 ms inside; in-process,
// load ~8).
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { mergeChunks } from './merge-chunks.mjs';
import { requireBuiltins } from './require-builtins.mjs';

// Chunk names carry a hash: drop the previous build's.
for (const name of fs.readdirSync('dist/src')) if (name.startsWith('chunk-')) fs.rmSync(`dist/src/${name}`);

const outdir = path.resolve('dist/src');
/** A .cjs import, kept external, as seen from dist/src where every output lies. */
const cjsFromOutdir = {
  name: 'cjs-from-outdir',
  setup(b) {
    b.onResolve({ filter: /\.cjs$/ }, (args) => ({
      path: `./${path.relative(outdir, path.resolve(args.resolveDir, args.path))}`,
      external: true,
    }));
  },
};

const { metafile } = await build({
  entryPoints: [
    { in: 'dist/src/cli/cli.js', out: 'cli' },
    { in: 'dist/src/index.js', out: 'index' },
    { in: 'dist/src/cli/bench.js', out: 'bench' },
    { in: 'dist/src/cli/bench-child.js', out: 'bench-child' },
    { in: 'dist/src/cli/bench-floor.js', out: 'bench-floor' },
  ],
  outdir,
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  external: ['piscina', 'execa', 'node-gyp-build'],
  plugins: [cjsFromOutdir],
  logLevel: 'warning',
  metafile: true,
});

// The CLI's entry, its provision path (the chunk of its import of
// backend.js) and the image paths it imports on first need: one module each
// instead of 9, 11 and, for an image, 11–17 more (scripts/merge-chunks.mjs).
// The order decides where a chunk two paths share goes: an `oci:` image's
// modules first (resolve, oci, extract-all), then a tarball's, then a pull's.
// An `oci:` provision then loads 13 files of the CLI where it loaded 24, a
// tarball 11 (19), a pull 15 (24): 0.86–0.91x the CPU time of a small tar
// layer's provision (docs/benchmarks.md, "Startup").
const roots = ['backend', 'images/resolve', 'images/oci', 'images/extract-all', 'images/decompress', 'images/shape', 'registry/pull', 'registry/download-order'].map((name) => {
  const entry = `dist/src/${name}.js`;
  const out = Object.keys(metafile.outputs).find((o) => metafile.outputs[o].entryPoint === entry);
  if (out === undefined) throw new Error(`bundle: no chunk for ${entry}`);
  return out;
});
await mergeChunks(metafile, outdir, ['dist/src/cli.js', ...roots]);
// Built-ins and CommonJS files through require() (scripts/require-builtins.mjs).
const entries = new Set(['cli.js', 'index.js', 'bench.js', 'bench-child.js', 'bench-floor.js']);
for (const name of fs.readdirSync(outdir)) if (entries.has(name) || /^chunk-[A-Z0-9]+\.js$/.test(name)) requireBuiltins(path.join(outdir, name));
// The command npm links (package.json "bin"): a shell script and a
// CommonJS module in one file, which starts the CLI beside it
// (src/cli/layercopy.cjs says why it is not cli.js).
fs.copyFileSync('src/cli/layercopy.cjs', path.join(outdir, 'layercopy.cjs'));
fs.chmodSync(path.join(outdir, 'layercopy.cjs'), 0o755);
