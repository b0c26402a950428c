import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { type BatchSize, defaultConcurrency, STRATEGIES, type Strategy } from '../core/options.js';
import { resolveInputs } from '../inputs.js';
import { destroy } from '../rootfs/destroy.js';
import { batchSizeArg, intList, parseIdMap, positiveInt, UsageError, type CliValues as Values } from './args.js';
import { buildMesosCopy, runChild } from './bench-process.js';

export interface BenchConfig {
  /**
   * seed: the Mesos copy backend's method (its key in reports): an fts walk
   * in C and cp -aT per layer, as a process of its own
   * (native/baseline/mesos_copy.c); cp -a: one copy of the final (merged) tree.
   */
  method: 'layercopy' | 'seed' | 'cp -a';
  concurrency?: number;
  batchSize?: BatchSize;
  strategy?: Strategy;
  /** --uid-map/--gid-map flags: an ID-mapped row beside each layercopy row. */
  idMapArgs?: string[];
}

export interface BenchRow extends BenchConfig {
  runs: number;
  /** Median of the provision call (layercopy) or of the baseline's whole process (seed, cp -a). */
  medianMs: number;
  /** Median wall time of the whole process, Node start included. */
  processMedianMs: number;
  /**
   * layercopy's whole process (median) over the median of cp -aT per layer
   * (its own time: no Node start counted against it) and over one cp -a of
   * the final tree (process).
   */
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
  batchSize: BatchSize[];
  /** layercopy strategies to time (default: both). */
  strategies?: Strategy[];
  /** --uid-map/--gid-map flags: each layercopy configuration is also timed ID-mapped. */
  idMapArgs?: string[];
  /** Where the temporary rootfs directories go (default: the OS temp dir). */
  scratch?: string;
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
    const mounts = fs
      .readFileSync('/proc/self/mounts', 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '));
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

/**
 * Provisions the layers with layercopy (each concurrency × batch size), with
 * cp -aT per layer (the Mesos copy backend's method) and one cp -a of the final tree, alternating the order run by
 * run, and reports medians, ratios, throughput and peak RSS.
 */
export async function bench(options: BenchOptions): Promise<BenchReport> {
  const log = options.log ?? (() => {});
  const scratchParent = options.scratch ?? os.tmpdir();
  const scratch = fs.mkdtempSync(path.join(scratchParent, 'layercopy-bench-'));
  let mesosCopy: string;
  try {
    mesosCopy = await buildMesosCopy(scratch);
  } catch (error) {
    fs.rmSync(scratch, { recursive: true, force: true });
    throw error;
  }
  const configs: BenchConfig[] = [{ method: 'seed' }, { method: 'cp -a' }];
  for (const strategy of options.strategies ?? STRATEGIES) {
    for (const concurrency of options.concurrency) {
      for (const batchSize of options.batchSize) {
        configs.push({ method: 'layercopy', strategy, concurrency, batchSize });
        if (options.idMapArgs?.length) configs.push({ method: 'layercopy', strategy, concurrency, batchSize, idMapArgs: options.idMapArgs });
      }
    }
  }
  // cp -a copies the final tree once: the layer itself, or the image merged
  // beforehand (untimed) — the floor a copier of the result could reach.
  let finalTree = options.layers[0];
  if (options.layers.length > 1) {
    finalTree = path.join(scratch, 'final');
    await runChild({ method: 'layercopy', layers: options.layers, rootfs: finalTree });
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
          await execa('cp', ['-a', finalTree, rootfs]);
          ms = proc = performance.now() - start;
        } else {
          const r = await runChild(
            {
              method: config.method,
              layers: options.layers,
              rootfs,
              concurrency: config.concurrency,
              batchSize: config.batchSize,
              strategy: config.strategy,
              idMapArgs: config.idMapArgs,
            },
            mesosCopy,
          );
          ms = r.ms;
          proc = r.processMs;
          if (config.method === 'layercopy') samples[i].rss = Math.max(samples[i].rss, r.maxRssKb);
          // The final tree's figures: what the merged plan writes (the layered method writes more).
          if (r.entries !== undefined && config.strategy !== 'layered') {
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
  const cpMs = median(samples[1].ms);
  const rows: BenchRow[] = configs.map((config, i) => {
    const medianMs = median(samples[i].ms);
    const processMedianMs = median(samples[i].proc);
    // layercopy is charged its whole process; the baselines only their own work.
    const charged = config.method === 'layercopy' ? processMedianMs : medianMs;
    return {
      ...config,
      runs: samples[i].ms.length,
      medianMs,
      processMedianMs,
      ratioToSeed: charged / seedMs,
      ratioToCp: charged / cpMs,
      entriesPerSec: entries ? entries / (medianMs / 1000) : undefined,
      mbPerSec: bytes ? bytes / 1e6 / (medianMs / 1000) : undefined,
      peakRssMb: samples[i].rss ? samples[i].rss / 1024 : undefined,
      samplesMs: samples[i].ms,
    };
  });
  const best = rows.filter((r) => r.method === 'layercopy').sort((a, b) => a.processMedianMs - b.processMedianMs)[0];
  return { layers: options.layers, scratch: scratchParent, filesystem: filesystemOf(scratchParent), entries, bytes, rows, best };
}

export function describe(c: BenchConfig): string {
  if (c.method === 'layercopy')
    return `layercopy --strategy ${c.strategy ?? 'merged'} --concurrency ${c.concurrency} --batch-size ${c.batchSize}${c.idMapArgs ? ` ${c.idMapArgs.join(' ')}` : ''}`;
  return c.method === 'seed' ? 'cp -aT per layer (Mesos copy backend)' : 'cp -a of the final tree';
}

const f2 = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(2));

export function formatTable(report: BenchReport): string {
  const lines = [
    `${report.layers.length} layer(s), ${report.entries.toLocaleString('en-US')} entries, ${(report.bytes / 1e6).toFixed(1)} MB; rootfs on ${report.filesystem}`,
    '',
    '| method | median s | process s | / cp -aT per layer | / cp -a final tree | entries/s | MB/s | peak RSS MB |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of report.rows) {
    lines.push(
      `| ${describe(r)} | ${(r.medianMs / 1000).toFixed(3)} | ${(r.processMedianMs / 1000).toFixed(3)} | ${f2(r.ratioToSeed)} | ${f2(r.ratioToCp)} | ${r.entriesPerSec ? Math.round(r.entriesPerSec).toLocaleString('en-US') : '—'} | ${r.mbPerSec ? r.mbPerSec.toFixed(0) : '—'} | ${r.peakRssMb ? r.peakRssMb.toFixed(0) : '—'} |`,
    );
  }
  lines.push(
    '',
    "Ratios: layercopy's whole process (Node start included) over the baselines' own time.",
    `best flags: --strategy ${report.best.strategy} --concurrency ${report.best.concurrency} --batch-size ${report.best.batchSize} (${(report.best.processMedianMs / 1000).toFixed(3)} s, ${f2(report.best.ratioToSeed)}x cp -aT per layer, ${f2(report.best.ratioToCp)}x cp -a of the final tree)`,
  );
  return lines.join('\n');
}

/** `layercopy bench [--runs N] [--concurrency LIST] [--batch-size LIST] [--json] LAYER...` */
export async function runBench(args: string[], values: Values): Promise<number> {
  if (args.length < 1) throw new UsageError('bench needs at least one LAYER');
  const runs = positiveInt('--runs', values.runs, 5)!;
  const cpus = defaultConcurrency();
  const concurrency = intList(
    '--concurrency',
    values.concurrency,
    [...new Set([1, 2, cpus, 4])].sort((a, b) => a - b),
  );
  const batchSize = values['batch-size'] === undefined ? (['auto', 64, 1024] as BatchSize[]) : values['batch-size'].split(',').map((v) => batchSizeArg('--batch-size', v.trim())!);
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
  const strategies = (values.strategy?.split(',').map((v) => v.trim()) ?? [...STRATEGIES]) as Strategy[];
  for (const st of strategies) if (!STRATEGIES.includes(st)) throw new UsageError(`--strategy must list ${STRATEGIES.join(', ')} (got '${st}')`);
  parseIdMap(values); // validated here, passed on as the flags the user typed
  const idMapArgs = [...(values['uid-map'] ?? []).flatMap((v) => ['--uid-map', v]), ...(values['gid-map'] ?? []).flatMap((v) => ['--gid-map', v])];
  const report = await bench({ layers, runs, concurrency, batchSize, strategies, idMapArgs, scratch: values.scratch, log });
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${formatTable(report)}\n`);
  return 0;
}

async function removeOrThrow(target: string): Promise<void> {
  const r = await destroy(target);
  if (!r.ok) throw r.error;
}
