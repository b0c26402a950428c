// What `layercopy bench` prints: a table of medians and ratios.
import type { BatchSize, Strategy } from '../core/options.js';
import type { ImageMethod } from './bench-images.js';
import type { PullMethod } from './bench-pull.js';

export interface BenchConfig {
  /**
   * seed: the Mesos copy backend's method (its key in reports): an fts walk
   * in C and cp -aT per layer, as a process of its own
   * (native/baseline/mesos_copy.c); cp -a: one copy of the final (merged) tree.
   */
  method: 'layercopy' | 'seed' | 'cp -a' | ImageMethod | PullMethod;
  /** docker:// benches: a layercopy row on the image copied beforehand into an OCI layout (untimed), not pulled. */
  local?: boolean;
  concurrency?: number;
  batchSize?: BatchSize;
  strategy?: Strategy;
  /** --uid-map/--gid-map flags: an ID-mapped row beside each layercopy row. */
  idMapArgs?: string[];
  /** --owners, --devices, --strict as given to bench. */
  policyArgs?: string[];
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
  /** Images: over umoci unpack, extracting each layer with tar then provisioning, the decompression floor, and the verified floor (every digest checked; the faster of its zlib and ISA-L rows). */
  ratioToUmoci?: number;
  ratioToExtract?: number;
  ratioToFloor?: number;
  ratioToVerifiedFloor?: number;
  /**
   * docker://: over skopeo copy then layercopy provision oci:, skopeo copy
   * then umoci unpack, the download floor, the same flags on the local
   * layout, and the larger of the download floor and that local row.
   */
  ratioToSkopeoLayercopy?: number;
  ratioToSkopeoUmoci?: number;
  ratioToDownloadFloor?: number;
  ratioToLocal?: number;
  ratioToPullFloor?: number;
  entriesPerSec?: number;
  mbPerSec?: number;
  peakRssMb?: number;
  samplesMs: number[];
}

export interface BenchReport {
  layers: string[];
  scratch: string;
  filesystem: string;
  entries: number;
  bytes: number;
  rows: BenchRow[];
  best: BenchRow;
  /** Scratch directories of benches that no longer run, removed before this one started. */
  staleRemoved: string[];
  /** Baselines left out, and why (umoci not on PATH, or failing on the image). */
  leftOut: string[];
}

export function describe(c: BenchConfig): string {
  if (c.method === 'layercopy')
    return `layercopy${c.local ? ' (local oci: layout)' : ''} --strategy ${c.strategy ?? 'merged'} --concurrency ${c.concurrency} --batch-size ${c.batchSize}${c.idMapArgs ? ` ${c.idMapArgs.join(' ')}` : ''}${c.policyArgs?.length ? ` ${c.policyArgs.join(' ')}` : ''}`;
  const names: Record<string, string> = {
    seed: 'cp -aT per layer (Mesos copy backend)',
    'cp -a': 'cp -a of the final tree',
    umoci: 'umoci unpack',
    'extract-then-copy': 'tar -x of each layer, then layercopy of the directories',
    floor: 'decompression floor (every layer at once, nothing written)',
    'verified-floor': 'verified floor, zlib (every blob read and inflated, every digest layercopy checks, nothing written)',
    'verified-floor-isal': 'verified floor, ISA-L (the same, gzip through igzip)',
    'skopeo-then-layercopy': 'skopeo copy to oci:, then layercopy provision oci:',
    'skopeo-then-umoci': 'skopeo copy to oci:, then umoci unpack',
    'download-floor': 'download floor (every blob at once, sha256, nothing written)',
  };
  return names[c.method];
}

const s3 = (ms: number) => (ms / 1000).toFixed(3);

/**
 * A run's progress line, in the table's two measures: for layercopy the
 * provision call (the table's "median s") and its whole process, Node's
 * start and module loading included ("process s"); a baseline's figure is
 * its whole process, both columns alike.
 */
export function progressLine(run: number, runs: number, config: BenchConfig, ms: number, processMs: number): string {
  const figures = config.method === 'layercopy' ? `${s3(ms)} s provision call, ${s3(processMs)} s whole process` : `${s3(processMs)} s whole process`;
  return `run ${run + 1}/${runs} ${describe(config)}: ${figures}`;
}

const f2 = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(2));

export function formatTable(report: BenchReport): string {
  const images = report.rows.some((r) => r.method === 'floor');
  const pull = report.rows.some((r) => r.method === 'download-floor');
  const columns: [string, (r: BenchRow) => number | undefined][] = pull
    ? [
        ['/ skopeo then layercopy', (r) => r.ratioToSkopeoLayercopy],
        ['/ skopeo then umoci', (r) => r.ratioToSkopeoUmoci],
        ['/ download floor', (r) => r.ratioToDownloadFloor],
        ['/ local oci:', (r) => r.ratioToLocal],
        ['/ max(floor, local)', (r) => r.ratioToPullFloor],
      ]
    : images
      ? [
          ['/ umoci unpack', (r) => r.ratioToUmoci],
          ['/ tar -x then layercopy', (r) => r.ratioToExtract],
          ['/ decompression floor', (r) => r.ratioToFloor],
          ['/ verified floor', (r) => r.ratioToVerifiedFloor],
        ]
      : [
          ['/ cp -aT per layer', (r) => r.ratioToSeed],
          ['/ cp -a final tree', (r) => r.ratioToCp],
        ];
  const lines = [
    `${report.layers.length} layer(s), ${report.entries.toLocaleString('en-US')} entries, ${(report.bytes / 1e6).toFixed(1)} MB; rootfs on ${report.filesystem}`,
    '',
    `| method | median s | process s | ${columns.map(([name]) => name).join(' | ')} | entries/s | MB/s | peak RSS MB |`,
    `|---|---|---|${columns.map(() => '---|').join('')}---|---|---|`,
  ];
  for (const r of report.rows) {
    const cells = columns.map(([, get]) => f2(get(r))).join(' | ');
    lines.push(
      `| ${describe(r)} | ${(r.medianMs / 1000).toFixed(3)} | ${(r.processMedianMs / 1000).toFixed(3)} | ${cells} | ${r.entriesPerSec ? Math.round(r.entriesPerSec).toLocaleString('en-US') : '—'} | ${r.mbPerSec ? r.mbPerSec.toFixed(0) : '—'} | ${r.peakRssMb ? r.peakRssMb.toFixed(0) : '—'} |`,
    );
  }
  const b = report.best;
  // Only the ratios there are: a baseline that did not run (umoci) has none.
  const bestRatios = columns.flatMap(([name, get]) => (get(b) === undefined ? [] : [`${f2(get(b))}x ${name.slice(2)}`]));
  lines.push(
    '',
    "median s: layercopy's provision call (its summary's timings.totalMs), a baseline's whole process; process s: the whole process, Node's start included (each progress line gives both).",
    "Ratios: layercopy's whole process (Node start included) over the baselines' own whole process.",
    // Every flag of the row (an ID-mapped row was named as the plain one).
    `best flags: ${describe(b).replace(/^layercopy /, '')} (${[`${(b.processMedianMs / 1000).toFixed(3)} s`, ...bestRatios].join(', ')})`,
    ...report.leftOut.map((why) => `left out: ${why}`),
  );
  return lines.join('\n');
}
