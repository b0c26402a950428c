// `layercopy bench`'s arguments and report (src/cli/bench.ts), through the command.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildLayer, scratch } from '../helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

describe('bench', () => {
  it('--platform that is no os/arch: a usage error, exit 2 (was an internal error with a stack, exit 1)', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l'), { a: 'a' });
    const r = await execa('node', [cli, 'bench', '--platform', 'foo', '--scratch', dir, layer], { reject: false });
    expect([r.exitCode, r.stderr.split('\n')[0]]).toEqual([2, "layercopy: --platform must be os/arch[/variant] (got 'foo')"]);
  });

  it('--concurrency past 1,024: a usage error before anything runs (100000 ran the baselines, then died of V8 out-of-memory)', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l'), { a: 'a' });
    for (const command of [
      ['bench', '--scratch', dir, '--concurrency', '2,100000', layer],
      ['provision', '--concurrency', '100000', layer, path.join(dir, 'root')],
    ]) {
      const r = await execa('node', [cli, ...command], { reject: false });
      expect([r.exitCode, r.stderr.split('\n')[0]]).toEqual([2, 'layercopy: --concurrency must be at most 1024 (got 100000): each worker thread is a V8 isolate of its own']);
    }
  });

  it('--strategy layered alone: the entries are counted (were 0), a value given twice is timed once', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l'), { 'etc/a': 'a', 'usr/b': 'b' });
    const args = ['bench', '--json', '--runs', '1', '--strategy', 'layered', '--concurrency', '1,1', '--batch-size', 'auto,auto', '--scratch', dir, layer];
    const r = await execa('node', [cli, ...args], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.entries).toBeGreaterThanOrEqual(4);
    expect(report.rows.filter((row: { method: string }) => row.method === 'layercopy')).toHaveLength(1);
    expect(report.leftOut).toEqual([]);
  });
});
