// What `layercopy bench` prints (src/cli/bench-report.ts).
import { describe, expect, it } from 'vitest';
import { type BenchReport, type BenchRow, formatTable } from '../../src/cli/bench-report.js';

const row = (fields: Partial<BenchRow>): BenchRow => ({ method: 'layercopy', runs: 1, medianMs: 1000, processMedianMs: 1000, samplesMs: [1000], ...fields });

/** A report of `rows` over 3 entries on /tmp, `best` the best row. */
const reportOf = (layer: string, rows: BenchRow[], best: BenchRow, leftOut: string[] = []): BenchReport => ({
  layers: [layer],
  scratch: '/tmp',
  filesystem: 'tmpfs (/tmp)',
  entries: 3,
  bytes: 100,
  rows,
  best,
  staleRemoved: [],
  leftOut,
});

describe('the bench table', () => {
  it('best flags on an image that umoci did not unpack: no umoci ratio', () => {
    const best = row({ strategy: 'merged', concurrency: 2, batchSize: 'auto', ratioToExtract: 0.5, ratioToFloor: 1.5, ratioToVerifiedFloor: 1.2 });
    const report = reportOf('oci:/images/app:1.0', [row({ method: 'extract-then-copy' }), row({ method: 'floor' }), row({ method: 'verified-floor' }), best], best);
    const line = formatTable(report).split('\n').at(-1);
    expect(line).toBe('best flags: --strategy merged --concurrency 2 --batch-size auto (1.000 s, 0.50x tar -x then layercopy, 1.50x decompression floor, 1.20x verified floor)');
  });
});

describe('the bench table: every flag of the best row, and what was left out', () => {
  it('an ID-mapped row named best is named with its maps (it was named as the plain row); the baselines left out are said under it', () => {
    const best = row({ strategy: 'merged', concurrency: 2, batchSize: 'auto', idMapArgs: ['--uid-map', '0:100000:65536'] });
    const report = reportOf('oci:/images/app:1.0', [row({ strategy: 'merged', concurrency: 2, batchSize: 'auto' }), best], best, ['umoci unpack: umoci is not on PATH']);
    const lines = formatTable(report).split('\n');
    expect(lines.slice(-2)).toEqual([
      'best flags: --strategy merged --concurrency 2 --batch-size auto --uid-map 0:100000:65536 (1.000 s)',
      'left out: umoci unpack: umoci is not on PATH',
    ]);
  });
});

describe('the bench table of a docker:// pull', () => {
  it('has the pull baselines as its columns, the local row marked, and the best flags over them', () => {
    const best = row({ strategy: 'merged', concurrency: 2, batchSize: 'auto', ratioToSkopeoLayercopy: 0.7, ratioToDownloadFloor: 2, ratioToLocal: 1.1, ratioToPullFloor: 1.1 });
    const local = row({ strategy: 'merged', concurrency: 2, batchSize: 'auto', local: true });
    const report = reportOf('docker://127.0.0.1:5000/app:1', [row({ method: 'skopeo-then-layercopy' }), row({ method: 'download-floor' }), best, local], best);
    const lines = formatTable(report).split('\n');
    expect(lines[2]).toBe(
      '| method | median s | process s | / skopeo then layercopy | / skopeo then umoci | / download floor | / local oci: | / max(floor, local) | entries/s | MB/s | peak RSS MB |',
    );
    expect(lines.find((l) => l.startsWith('| layercopy (local oci: layout) --strategy merged --concurrency 2 --batch-size auto |'))).toBeDefined();
    expect(lines.at(-1)).toBe(
      'best flags: --strategy merged --concurrency 2 --batch-size auto (1.000 s, 0.70x skopeo then layercopy, 2.00x download floor, 1.10x local oci:, 1.10x max(floor, local))',
    );
  });
});
