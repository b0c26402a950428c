// The rows of a bench report: each configuration's medians and its ratios
// to the baselines that ran.
import type { BenchConfig, BenchRow } from './bench-report.js';

/** One configuration's figures: wall ms (the provision call for layercopy), whole-process ms, peak RSS in KiB. */
export interface Samples {
  ms: number[];
  proc: number[];
  rss: number;
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The same layercopy flags (the pulled row and its local twin share them). */
const sameFlags = (a: BenchConfig, b: BenchConfig) =>
  a.strategy === b.strategy && a.concurrency === b.concurrency && a.batchSize === b.batchSize && (a.idMapArgs ?? []).join(' ') === (b.idMapArgs ?? []).join(' ');

export function toRows(configs: BenchConfig[], samples: Samples[], entries: number, bytes: number): BenchRow[] {
  const baseline = (method: BenchConfig['method']) => {
    const i = configs.findIndex((c) => c.method === method);
    return i < 0 ? undefined : median(samples[i].ms);
  };
  const [seedMs, cpMs, umociMs, extractMs, floorMs, zlibFloorMs, isalFloorMs, skopeoLayercopyMs, skopeoUmociMs, downloadFloorMs] = (
    ['seed', 'cp -a', 'umoci', 'extract-then-copy', 'floor', 'verified-floor', 'verified-floor-isal', 'skopeo-then-layercopy', 'skopeo-then-umoci', 'download-floor'] as const
  ).map(baseline);
  // The verified floor is the fastest inflater's: ISA-L's where it ran.
  const verifiedFloorMs = isalFloorMs === undefined || zlibFloorMs === undefined ? zlibFloorMs : Math.min(zlibFloorMs, isalFloorMs);
  const ratio = (charged: number, base?: number) => (base === undefined ? undefined : charged / base);
  // layercopy is charged its whole process; the baselines only their own work.
  const chargedOf = (config: BenchConfig, i: number) => (config.method === 'layercopy' ? median(samples[i].proc) : median(samples[i].ms));
  return configs.map((config, i) => {
    const medianMs = median(samples[i].ms);
    const charged = chargedOf(config, i);
    const pulled = config.method === 'layercopy' && downloadFloorMs !== undefined && !config.local;
    const twin = pulled ? configs.findIndex((c) => c.method === 'layercopy' && c.local && sameFlags(c, config)) : -1;
    const localMs = twin < 0 ? undefined : chargedOf(configs[twin], twin);
    return {
      ...config,
      runs: samples[i].ms.length,
      medianMs,
      processMedianMs: median(samples[i].proc),
      ratioToSeed: ratio(charged, seedMs),
      ratioToCp: ratio(charged, cpMs),
      ratioToUmoci: ratio(charged, umociMs),
      ratioToExtract: ratio(charged, extractMs),
      ratioToFloor: ratio(charged, floorMs),
      ratioToVerifiedFloor: ratio(charged, verifiedFloorMs),
      ratioToSkopeoLayercopy: ratio(charged, skopeoLayercopyMs),
      ratioToSkopeoUmoci: ratio(charged, skopeoUmociMs),
      ratioToDownloadFloor: ratio(charged, downloadFloorMs),
      ratioToLocal: ratio(charged, localMs),
      ratioToPullFloor: localMs === undefined ? undefined : ratio(charged, Math.max(localMs, downloadFloorMs!)),
      // Over the time the ratios charge (layercopy's whole process): the provision call's made it look faster than its ratios said.
      entriesPerSec: entries ? entries / (charged / 1000) : undefined,
      mbPerSec: bytes ? bytes / 1e6 / (charged / 1000) : undefined,
      peakRssMb: samples[i].rss ? samples[i].rss / 1024 : undefined,
      samplesMs: samples[i].ms,
    };
  });
}
