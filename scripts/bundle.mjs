// Bundles tsc's output for the entry points (dist/src/cli.js, index.js,
// bench.js) in place: one module each plus shared chunks, beside the other
// files of dist/src. Node 20 loads ES modules one at a time (resolve, read,
// compile, link), and the ~20 of a provision cost ~6 ms of every CLI run: an
// empty provision took `node -e 0` + 32 ms unbundled, + 26 ms bundled (31
// alternating runs, docs/benchmarks.md). Chunks stay in dist/src so that
// paths made from import.meta.url (src/compiled.ts, the CLI's package.json)
// resolve as from tsc's files; piscina, p-queue and execa stay external and
// load on first need, and the CommonJS files (native.cjs, the workers) are
// left as tsc wrote them.
import fs from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry a hash: drop the previous build's.
for (const name of fs.readdirSync('dist/src')) if (name.startsWith('chunk-')) fs.rmSync(`dist/src/${name}`);

await build({
  entryPoints: ['dist/src/cli.js', 'dist/src/index.js', 'dist/src/bench.js'],
  outdir: 'dist/src',
  allowOverwrite: true,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunk-[hash]',
  external: ['piscina', 'p-queue', 'execa', 'node-gyp-build', '*.cjs'],
  logLevel: 'warning',
});
