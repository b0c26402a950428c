// The house rules of src/, checked by `npm run lint`:
// - src/ is in folders; only the public entry modules stay at its top;
// - folders are ranked, and a module imports only from its own rank or
//   below (data flows one way: CLI -> provision -> strategies -> copy ->
//   rootfs -> core; nothing imports back up);
// - no import circles, type-only imports included;
// - no TypeScript file over 300 lines.
// Prints every breach and exits 1, or one line and exits 0.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const RANKS = { 'src/cli': 5, src: 4, 'src/strategies': 3, 'src/images': 3, 'src/registry': 3, 'src/store': 3, 'src/copy': 2, workers: 2, 'src/rootfs': 1, 'src/core': 0 };
const TOP_LEVEL = new Set(['index.ts', 'require.cts', 'backend.ts', 'provision.ts', 'inputs.ts', 'layers.ts']);
const MAX_LINES = 300;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const files = [];
const walk = (dir) => {
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) walk(rel);
    else if (/\.(ts|cts|mts)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) files.push(rel);
  }
};
walk('src');
walk('workers');

const problems = [];
const sourceOf = (spec, from) => {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const candidates = [base.replace(/\.js$/, '.ts'), base.replace(/\.cjs$/, '.cts'), base.replace(/\.mjs$/, '.mts'), base];
  return candidates.find((c) => files.includes(c));
};
const rankOf = (file) => RANKS[path.posix.dirname(file)];

const graph = new Map();
for (const file of files) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_LINES) problems.push(`${file}: ${lines} lines (at most ${MAX_LINES}): split it by job`);
  const dir = path.posix.dirname(file);
  if (rankOf(file) === undefined) problems.push(`${file}: in no ranked folder (${Object.keys(RANKS).join(', ')})`);
  if (dir === 'src' && !TOP_LEVEL.has(path.posix.basename(file))) problems.push(`${file}: only the entry modules (${[...TOP_LEVEL].join(', ')}) stay at the top of src/; put it in a folder`);
  const deps = new Set();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  for (const m of text.matchAll(re)) {
    const target = sourceOf(m[1], file);
    if (target === undefined) {
      problems.push(`${file}: imports ${m[1]}, which is no module of src/ or workers/`);
      continue;
    }
    deps.add(target);
    if (rankOf(target) > rankOf(file)) {
      problems.push(`${file} imports ${target}: back up (${path.posix.dirname(target)} ranks above ${dir})`);
    }
  }
  graph.set(file, deps);
}

// Circles: strongly connected components of more than one file (Tarjan).
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const strongConnect = (v) => {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v)) {
    if (!index.has(w)) {
      strongConnect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v).has(v)) problems.push(`import circle: ${component.sort().join(' <-> ')}`);
  }
};
for (const file of files) if (!index.has(file)) strongConnect(file);

if (problems.length > 0) {
  for (const p of problems) process.stderr.write(`check-structure: ${p}\n`);
  process.exit(1);
}
process.stdout.write(`check-structure: ${files.length} modules, no import back up, no circle, none over ${MAX_LINES} lines\n`);
