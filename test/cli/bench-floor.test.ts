import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { scratch } from '../helpers.js';
import { compress, gzipMember, hasZstd, rawTar, sha } from '../images/fixtures.js';

const floor = fileURLToPath(new URL('../../dist/src/bench-floor.js', import.meta.url));
/** A gzip layer and its TarLayer, its digests as an image's descriptor and config give them. */
function layer() {
  const tar = rawTar([{ name: 'a', data: 'x'.repeat(5000) }]);
  const blob = zlib.gzipSync(tar);
  const file = path.join(scratch(), 'layer.tar.gz');
  fs.writeFileSync(file, blob);
  return { file, label: 'layer 1', digest: sha(blob), size: blob.length, diffId: sha(tar) };
}

const runFloor = (layers: unknown[], ...how: string[]) => execa('node', [floor, JSON.stringify(layers), ...how], { reject: false });

describe('bench-floor', () => {
  it('verified: checks the blob digest, and fails on one that does not match', async () => {
    const good = layer();
    expect((await runFloor([good], 'verify')).exitCode).toBe(0);
    const r = await runFloor([{ ...good, digest: sha(Buffer.from('other')) }], 'verify');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('blob digest');
  });

  it('verified: checks the blob size, as layercopy does', async () => {
    const good = layer();
    const r = await runFloor([{ ...good, size: good.size + 1 }], 'verify');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('blob size');
  });

  it('verified: checks the diff_id of the decompressed tar', async () => {
    const r = await runFloor([{ ...layer(), diffId: sha(Buffer.from('other')) }], 'verify');
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('diff_id');
  });

  it("a gzip of two members is read again through zlib's gunzip, as the extraction does: both floors finish, the verified one checked", async () => {
    const tar = rawTar([{ name: 'a', data: 'x'.repeat(5000) }]);
    const blob = Buffer.concat([gzipMember(tar.subarray(0, 1024)), gzipMember(tar.subarray(1024))]);
    const file = path.join(scratch(), 'layer.tar.gz');
    fs.writeFileSync(file, blob);
    const two = { file, label: 'layer 1', digest: sha(blob), size: blob.length, diffId: sha(tar) };
    for (const how of [['verify'], []]) {
      const r = await runFloor([two], ...how);
      expect(r.exitCode, r.stderr).toBe(0);
    }
  });

  it('plain: decompresses only, no digest checked', async () => {
    const r = await runFloor([{ ...layer(), diffId: sha(Buffer.from('other')) }]);
    expect(r.exitCode, r.stderr).toBe(0);
  });

  it.runIf(hasZstd)(
    'zstd layers on worker threads, placed as the pool places them: each decoded and checked, a mismatch in any fails [needs the zstd command for fixtures]',
    async () => {
      const dir = scratch();
      const layers = [3000, 9000, 1000, 5000, 7000].map((n, i) => {
        const tar = rawTar([{ name: `f${i}`, data: 'z'.repeat(n) }]);
        const blob = compress(tar, 'zstd');
        const file = path.join(dir, `l${i}.tar.zst`);
        fs.writeFileSync(file, blob);
        return { file, label: `layer ${i + 1}`, digest: sha(blob), size: blob.length, diffId: sha(tar) };
      });
      const good = await runFloor(layers, 'verify');
      expect(good.exitCode, good.stderr).toBe(0);
      const bad = await runFloor(
        layers.map((l, i) => (i === 4 ? { ...l, diffId: sha(Buffer.from('other')) } : l)),
        'verify',
      );
      expect(bad.exitCode).toBe(1);
      expect(bad.stderr).toContain('layer 5: uncompressed digest (diff_id) does not match');
    },
  );
});
