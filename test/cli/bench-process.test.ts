// The bench's Mesos-method baseline (native/baseline/mesos_copy.c, an fts
// walk in C and cp -aT per layer) must do what the Node reproduction of the
// method (test/fixtures/seed.ts, checked against layercopy in provision.seed.test.ts) does.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildMesosCopy } from '../../src/cli/bench-process.js';
import { seedProvision } from '../fixtures/seed.js';
import { buildLayer, diffSnapshots, type EntryInfo, generateImage, scratch, snapshot } from '../helpers.js';

/** Deleting the copied markers bumps directory times (both do it, at different moments): compared without them. */
function withoutDirTimes(tree: Map<string, EntryInfo>): Map<string, EntryInfo> {
  for (const e of tree.values()) if (e.type === 'dir') e.mtimeNs = e.atimeNs = 0n;
  return tree;
}

describe('the bench baseline mesos-copy', () => {
  it.each([1, 2, 3])('gives the tree of the cp -aT per layer method (generated image %i)', async (seed) => {
    const dir = scratch();
    const program = await buildMesosCopy(dir);
    const layers = generateImage(seed).map((spec, i) => buildLayer(path.join(dir, `l${i}`), spec));
    await execa(program, [...layers, path.join(dir, 'c')]);
    await seedProvision(layers, path.join(dir, 'node'));
    const c = withoutDirTimes(snapshot(path.join(dir, 'c'), { atime: false }));
    expect(c.size).toBeGreaterThan(60);
    expect(diffSnapshots(c, withoutDirTimes(snapshot(path.join(dir, 'node'), { atime: false })))).toEqual([]);
  });

  it('refuses an existing ROOTFS, as the Mesos backend does', async () => {
    const dir = scratch();
    const program = await buildMesosCopy(dir);
    const layer = buildLayer(path.join(dir, 'l0'), { a: 'a' });
    fs.mkdirSync(path.join(dir, 'root'));
    const r = await execa(program, [layer, path.join(dir, 'root')], { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([1, 'mesos-copy: Rootfs is already provisioned']);
  });

  it('bench without a C compiler says so in one line: cc is not on PATH', async () => {
    const dir = scratch();
    const layer = buildLayer(path.join(dir, 'l0'), { a: 'a' });
    const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
    // An empty PATH: node is started by its full path, and the bench stops at cc.
    const r = await execa(process.execPath, [cli, 'bench', '--runs', '1', '--scratch', dir, layer], { reject: false, env: { PATH: path.join(dir, 'l0') }, extendEnv: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(
      /^layercopy: bench needs a C compiler \(cc\) to build its cp -aT per layer baseline at native speed \(\S+mesos_copy\.c\): cc is not on PATH$/,
    );
  });
});
