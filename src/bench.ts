import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import type { ChildRequest, ChildResult } from './bench-child.js';
import { intList, positiveInt, UsageError } from './cli.js';
import { resolveInputs } from './inputs.js';
import { DEFAULT_BATCH_SIZE, defaultConcurrency } from './options.js';
import { destroy } from './destroy.js';

/** The script that runs one timed provision in a process of its own. */
export const CHILD = fileURLToPath(new URL('./bench-child.js', import.meta.url));

export interface BenchConfig {
  method: 'layercopy' | 'seed' | 'cp -a';
  concurrency?: number;
  batchSize?: number;
}

export interface BenchRow extends BenchConfig {
  runs: number;
  /** Median of the provision call (layercopy, seed) or of the cp process (cp -a). */
  medianMs: number;
  /** Median wall time of the whole process, Node start included. */
  processMedianMs: number;
  ratioToSeed?: number;
  ratioToCp?: number;
  entriesPerSec?: number;
  mbPerSec?: number;
  peakRssMb?: number;
  samplesMs: number[];
}

export interface BenchOptions {
  layers: string[];
  runs: number;
  concurrency: number[];
  batchSize: number[];
  /** Where the temporary rootfs directories go (default: the OS temp dir). */
  scratch?: string;
  /** Also time plain `cp -a` (meaningful for a single layer). */
  cpBaseline?: boolean;
  log?: (line: string) => void;
}

export interface BenchReport {
  layers: string[];
  scratch: string;
  filesystem: string;
  entries: number;
  bytes: number;
  rows: BenchRow[];
  best: BenchRow;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export function filesystemOf(dir: string): string {
  try {
    const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').trim().split('\n').map((l) => l.split(' '));
    const real = fs.realpathSync(dir);
    let best = ['', '/', 'unknown'];
    for (const m of mounts) {
      if ((real === m[1] || real.startsWith(m[1].endsWith('/') ? m[1] : `${m[1]}/`)) && m[1].length >= best[1].length) best = m;
    }
    return `${best[2]} (${best[1]})`;
  } catch {
    return 'unknown';
  }
}

/** Runs one timed provision in a fresh process: its figures and the process's wall time. */
export async function runChild(request: ChildRequest): Promise<ChildResult & { processMs: number }> {
  const start = performance.now();
  const r = await execa(process.execPath, [CHILD, JSON.stringify(request)]);
  return { ...(JSON.parse(r.stdout) as ChildResult), processMs: performance.now() - start };
}

/**
 * Provisions the layers with layercopy (each concurrency × batch size), with
 * the seed's method and optionally plain cp -a, alternating the order run by
 * run, and reports medians, ratios, throughput and peak RSS.
 */
export async function bench(options: BenchOptions): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const scratchParent = options.scratch ?? os.tmpdir();
  const scratch = fs.mkdtempSync(path.join(scratchParent, 'layercopy-bench-'));
  const configs: BenchConfig[] = [{ method: 'seed' }];
  if (options.cpBaseline) configs.push({ method: 'cp -a' });
  for (const concurrency of options.concurrency) {
    for (const batchSize of options.batchSize) configs.push({ method: 'layercopy', concurrency, batchSize });
  }
  const samples = configs.map(() => ({ ms: [] as number[], proc: [] as number[], rss: 0 }));
  let entries = 0;
  let bytes = 0;
  try {
    for (let run = 0; run < options.runs; run++) {
      for (let k = 0; k < configs.length; k++) {
        const i = (k + run) % configs.length;
        const config = configs[i];
        const rootfs = path.join(scratch, 'rootfs');
        let ms: number;
        let proc: number;
        if (config.method === 'cp -a') {
          const start = performance.now();
          await execa('cp', ['-a', options.layers[0], rootfs]);
          ms = proc = performance.now() - start;
        } else {
          const r = await runChild({ method: config.method, layers: options.layers, rootfs, concurrency: config.concurrency, batchSize: config.batchSize });
          ms = r.ms;
          proc = r.processMs;
          if (config.method === 'layercopy') samples[i].rss = Math.max(samples[i].rss, r.maxRssKb);
          if (r.entries !== undefined) {
            entries = r.entries;
            bytes = r.bytes ?? 0;
          }
        }
        samples[i].ms.push(ms);
        samples[i].proc.push(proc);
        await removeOrThrow(rootfs);
        log(`run ${run + 1}/${options.runs} ${describe(config)}: ${(ms / 1000).toFixed(3)} s`);
      }
    }
  } finally {
    await removeOrThrow(scratch);
  }
  const seedMs = median(samples[0].ms);
  const cpIndex = configs.findIndex((c) => c.method === 'cp -a');
  const cpMs = cpIndex >= 0 ? median(samples[cpIndex].ms) : undefined;
  const rows: BenchRow[] = configs.map((config, i) => {
    const medianMs = median(samples[i].ms);
    return {
      ...config,
      runs: samples[i].ms.length,
      medianMs,
      processMedianMs: median(samples[i].proc),
      ratioToSeed: medianMs / seedMs,
      ratioToCp: cpMs === undefined ? undefined : medianMs / cpMs,
      entriesPerSec: entries ? entries / (medianMs / 1000) : undefined,
      mbPerSec: bytes ? bytes / 1e6 / (medianMs / 1000) : undefined,
      peakRssMb: samples[i].rss ? samples[i].rss / 1024 : undefined,
      samplesMs: samples[i].ms,
    };
  });
  const best = rows.filter((r) => r.method === 'layercopy').sort((a, b) => a.medianMs - b.medianMs)[0];
  return { layers: options.layers, scratch: scratchParent, filesystem: filesystemOf(scratchParent), entries, bytes, rows, best };
}

export function describe(c: BenchConfig): string {
  return c.method === 'layercopy' ? `layercopy --concurrency ${c.concurrency} --batch-size ${c.batchSize}` : c.method === 'seed' ? 'seed (cp -aT per layer)' : 'cp -a (layer 1)';
}

const f2 = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(2));

export function formatTable(report: BenchReport): string {
  const lines = [
    `${report.layers.length} layer(s), ${report.entries.toLocaleString('en-US')} entries, ${(report.bytes / 1e6).toFixed(1)} MB; rootfs on ${report.filesystem}`,
    '',
    '| method | median s | process s | ratio to seed | ratio to cp -a | entries/s | MB/s | peak RSS MB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of report.rows) {
    lines.push(
      `| ${describe(r)} | ${(r.medianMs / 1000).toFixed(3)} | ${(r.processMedianMs / 1000).toFixed(3)} | ${f2(r.ratioToSeed)} | ${f2(r.ratioToCp)} | ${r.entriesPerSec ? Math.round(r.entriesPerSec).toLocaleString('en-US') : '—'} | ${r.mbPerSec ? r.mbPerSec.toFixed(0) : '—'} | ${r.peakRssMb ? r.peakRssMb.toFixed(0) : '—'} |`,
    );
  }
  lines.push('', `best flags: --concurrency ${report.best.concurrency} --batch-size ${report.best.batchSize} (${(report.best.medianMs / 1000).toFixed(3)} s, ${f2(report.best.ratioToSeed)}x the seed)`);
  return lines.join('\n');
}

type Values = { concurrency?: string; 'batch-size'?: string; runs?: string; scratch?: string; json?: boolean; quiet?: boolean };

/** `layercopy bench [--runs N] [--concurrency LIST] [--batch-size LIST] [--json] LAYER...` */
export async function runBench(args: string[], values: Values): Promise<number> {
  if (args.length < 1) throw new UsageError('bench needs at least one LAYER');
  const runs = positiveInt('--runs', values.runs, 5)!;
  const cpus = defaultConcurrency();
  const concurrency = intList('--concurrency', values.concurrency, [...new Set([1, 2, cpus, 4])].sort((a, b) => a - b));
  const batchSize = intList('--batch-size', values['batch-size'], [64, DEFAULT_BATCH_SIZE, 1024]);
  let layers: string[];
  try {
    layers = resolveInputs(args, path.join(os.tmpdir(), `layercopy-bench-probe-${process.pid}`)).layers;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.scratch !== undefined && !fs.statSync(values.scratch, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError(`--scratch ${values.scratch}: not a directory`);
  }
  const log = values.quiet || values.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  const report = await bench({ layers, runs, concurrency, batchSize, cpBaseline: layers.length === 1, scratch: values.scratch, log });
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${formatTable(report)}\n`);
  return 0;
}

async function removeOrThrow(target: string): Promise<void> {
  const r = await destroy(target);
  if (!r.ok) throw r.error;
}
