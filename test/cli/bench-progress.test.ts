// The progress lines of `layercopy bench` and its table measure the same
// things: layercopy's line gives its provision call and its whole process,
// the figures of the table's "median s" and "process s" columns.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, scratch } from '../helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

describe('bench: progress lines and the table agree', () => {
  let stdout: string;
  let stderr: string;
  beforeAll(async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l'), { 'etc/a': 'a', 'usr/b': 'b' });
    const r = await execa('node', [cli, 'bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', 'auto', '--scratch', dir, layer], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    ({ stdout, stderr } = r);
  });

  it("layercopy's progress line gives the table's median s and process s of that run (one run: the medians are it)", () => {
    const line = /^run 1\/1 (layercopy [^:]+): (\d+\.\d{3}) s provision call, (\d+\.\d{3}) s whole process$/m.exec(stderr);
    expect(line, stderr).not.toBeNull();
    const [, name, call, whole] = line!;
    const row = stdout.split('\n').find((l) => l.startsWith(`| ${name} |`))!;
    expect(row.split(' | ').slice(1, 3)).toEqual([call, whole]);
  });

  it("a baseline's progress line gives its whole process, the table's process s", () => {
    const line = /^run 1\/1 (cp -a of the final tree): (\d+\.\d{3}) s whole process$/m.exec(stderr);
    expect(line, stderr).not.toBeNull();
    const row = stdout.split('\n').find((l) => l.startsWith(`| ${line![1]} |`))!;
    expect(row.split(' | ')[2]).toBe(line![2]);
  });

  it.runIf(fs.existsSync('/usr/bin/time'))('every row has its peak RSS, the baselines too (GNU time)', () => {
    const rows = stdout.split('\n').filter((l) => /^\| (cp -a|layercopy )/.test(l));
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) expect(row.split(' | ').at(-1), row).toMatch(/^\d+ \|$/);
  });

  it('the table says what each column measures', () => {
    expect(stdout).toContain(
      "median s: layercopy's provision call (its summary's timings.totalMs), a baseline's whole process; process s: the whole process, Node's start included",
    );
  });
});
