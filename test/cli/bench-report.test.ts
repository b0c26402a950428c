// What `layercopy bench` prints (src/cli/bench-report.ts).
import { describe, expect, it } from 'vitest';
import { type BenchReport, type BenchRow, formatTable } from '../../src/cli/bench-report.js';

const row = (fields: Partial<BenchRow>): BenchRow => ({ method: 'layercopy', runs: 1, medianMs: 1000, processMedianMs: 1000, samplesMs: [1000], ...fields });

describe('the bench table', () => {
  it('best flags on an image that umoci did not unpack: no umoci ratio', () => {
    const best = row({ strategy: 'merged', concurrency: 2, batchSize: 'auto', ratioToExtract: 0.5, ratioToFloor: 1.5, ratioToVerifiedFloor: 1.2 });
    const report: BenchReport = {
      layers: ['oci:/images/app:1.0'],
      scratch: '/tmp',
      filesystem: 'tmpfs (/tmp)',
      entries: 3,
      bytes: 100,
      rows: [row({ method: 'extract-then-copy' }), row({ method: 'floor' }), row({ method: 'verified-floor' }), best],
      best,
      staleRemoved: [],
    };
    const line = formatTable(report).split('\n').at(-1);
    expect(line).toBe('best flags: --strategy merged --concurrency 2 --batch-size auto (1.000 s, 0.50x tar -x then layercopy, 1.50x decompression floor, 1.20x verified floor)');
  });
});
