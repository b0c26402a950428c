// Micro-benchmark of the copy step alone (tinybench): 500 small files of
// mixed owners and modes copied into a fresh directory per iteration, by
// layercopy's native batch step and by what plain Node offers. Run by
// bench/run.ts; `node dist/bench/micro.js DIR` runs it alone.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Bench } from 'tinybench';
import { native } from '../src/core/native.cjs';
import { buildLayer } from './layers.js';

const FILES = 500;

export async function microBench(work: string): Promise<string> {
  const src = path.join(work, 'micro-src');
  const spec: Record<string, { file: string; mode: number; uid: number }> = {};
  for (let i = 0; i < FILES; i++) spec[`f${i}`] = { file: 'x'.repeat((i * 37) % 4096), mode: [0o644, 0o755, 0o600, 0o4755][i % 4], uid: i % 3 };
  buildLayer(src, spec);
  const rels = Object.keys(spec);
  const types = 'f'.repeat(FILES);
  const dst = path.join(work, 'micro-dst');
  const fresh = () => {
    fs.rmSync(dst, { recursive: true, force: true });
    fs.mkdirSync(dst);
  };
  const bench = new Bench({ time: 1500, iterations: 20, warmupIterations: 3 });
  bench
    .add(
      'layercopy native copyEntries (owner, mode, xattrs, ns times)',
      () => {
        const r = native.copyEntries(src, dst, '', rels, types, false);
        if (r.failure) throw new Error(JSON.stringify(r.failure));
      },
      { beforeEach: fresh },
    )
    .add(
      'fs.copyFileSync + lchownSync + chmodSync + utimesSync (µs times, no xattrs)',
      () => {
        for (const rel of rels) {
          const from = path.join(src, rel);
          const to = path.join(dst, rel);
          const st = fs.lstatSync(from);
          fs.copyFileSync(from, to);
          fs.lchownSync(to, st.uid, st.gid);
          fs.chmodSync(to, st.mode & 0o7777);
          fs.utimesSync(to, st.atime, st.mtime);
        }
      },
      { beforeEach: fresh },
    )
    .add(
      "fs.cpSync (Node's lib/internal/fs/cp; no owner, no xattrs)",
      () => {
        fs.cpSync(src, dst, { recursive: true, preserveTimestamps: true, force: true });
      },
      { beforeEach: fresh },
    )
    .add(
      'cp -a process (one spawn per iteration)',
      async () => {
        await execa('cp', ['-aT', src, dst]);
      },
      { beforeEach: fresh },
    );
  await bench.run();
  fs.rmSync(dst, { recursive: true, force: true });
  fs.rmSync(src, { recursive: true, force: true });
  const rows = bench.tasks.map((t) => {
    const r = t.result as unknown as { latency?: { p50: number } };
    return { name: t.name, perFileUs: ((r.latency?.p50 ?? NaN) * 1000) / FILES };
  });
  const base = rows[0].perFileUs;
  return [
    `tinybench, ${FILES} files of 0–4 KB per iteration, one thread, tmpfs; median latency per iteration / ${FILES}.`,
    '',
    '| copy step | µs per file | relative |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.name} | ${r.perFileUs.toFixed(1)} | ${(r.perFileUs / base).toFixed(2)} |`),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = fs.mkdtempSync(path.join(process.argv[2] ?? '/dev/shm', 'layercopy-micro-'));
  microBench(dir)
    .then((table) => console.log(table))
    .finally(() => fs.rmSync(dir, { recursive: true, force: true }));
}
