// Merges groups of esbuild's chunks into one module each. Code splitting
// gives every set of entry points (dynamic imports included) that reaches a
// module a chunk of its own, so the CLI's entry loaded 9 chunks and its
// provision path 11 more; Node 20 loads each ES module on its own (resolve,
// an asynchronous open, read and close, compile, link), and the 11 of the
// provision path cost more than their code: one module in their place made
// an empty provision 0.87x the CPU time (docs/benchmarks.md, "Startup").
//
// A group is a chunk or entry and every chunk it imports statically,
// transitively, less those of an earlier group. Each chunk still lives in
// one file only (the importers of a merged chunk import the group's file),
// so no module state or class is ever loaded twice; a group holds every
// chunk its members import but those of earlier groups, so it imports no
// chunk that could import it back: merging makes no cycle. The members are
// listed in the order Node evaluated them (depth first, imports before
// importers): the merged module's top level runs in the same order.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const CHUNK = /^chunk-[A-Z0-9]+\.js$/;

/**
 * metafile: esbuild's, for outputs in outdir; roots: output paths as the
 * metafile names them (the CLI, the chunk of a dynamic import), one group
 * each, in order. Rewrites outdir in place; returns the groups' files.
 */
export async function mergeChunks(metafile, outdir, roots) {
  const outputs = metafile.outputs;
  const chunkImports = (out) => outputs[out].imports.filter((i) => i.kind === 'import-statement' && !i.external && CHUNK.test(path.basename(i.path))).map((i) => i.path);
  const taken = new Set();
  const renamed = new Map();
  const files = [];
  for (const root of roots) {
    const members = [];
    const visit = (out) => {
      if (taken.has(out)) return;
      taken.add(out);
      for (const dep of chunkImports(out)) visit(dep);
      if (CHUNK.test(path.basename(out))) members.push(out);
    };
    visit(root);
    if (members.length < 2) continue;
    const file = await mergeGroup(outputs, outdir, members);
    for (const out of members) renamed.set(path.basename(out), file);
    files.push(file);
  }
  for (const name of fs.readdirSync(outdir)) {
    if (!name.endsWith('.js') || renamed.has(name)) continue;
    const file = path.join(outdir, name);
    const text = fs.readFileSync(file, 'utf8');
    const next = text.replace(/"\.\/(chunk-[A-Z0-9]+\.js)"/g, (whole, chunk) => (renamed.has(chunk) ? `"./${renamed.get(chunk)}"` : whole));
    if (next !== text) fs.writeFileSync(file, next);
  }
  for (const chunk of renamed.keys()) fs.rmSync(path.join(outdir, chunk));
  return files;
}

/** Bundles the members (in evaluation order) as one module of outdir; returns its name. */
async function mergeGroup(outputs, outdir, members) {
  const names = new Set(members.flatMap((out) => outputs[out].exports));
  // `export *` passes on no default export.
  if (names.has('default')) throw new Error(`merge-chunks: a chunk of ${members.join(', ')} has a default export`);
  const inGroup = new Set(members.map((out) => path.resolve(out)));
  const result = await build({
    stdin: { contents: members.map((out) => `export * from "./${path.basename(out)}";\n`).join(''), resolveDir: outdir, sourcefile: 'merged.js' },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    metafile: true,
    plugins: [
      {
        name: 'group-only',
        setup(b) {
          // Everything outside the group stays an import, by the same relative path (the merged file lies in outdir too).
          b.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'import-statement' && args.path.startsWith('./') && inGroup.has(path.resolve(args.resolveDir, args.path))) return undefined;
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  // Two members may export one binding (an entry chunk passes on what it
  // imports); two different bindings of one name would make it ambiguous, and
  // `export *` would drop it: every name must come through.
  const merged = new Set(Object.values(result.metafile.outputs)[0].exports);
  const lost = [...names].filter((name) => !merged.has(name));
  if (lost.length > 0) throw new Error(`merge-chunks: ${lost.join(', ')} lost merging ${members.join(', ')}`);
  const text = result.outputFiles[0].text;
  const name = `chunk-${crypto.createHash('sha256').update(text).digest('hex').slice(0, 8).toUpperCase()}.js`;
  fs.writeFileSync(path.join(outdir, name), text);
  return name;
}
