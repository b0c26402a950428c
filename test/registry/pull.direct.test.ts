// A one-layer image from a registry (most base images) goes straight into
// the rootfs, as a one-layer image on disk does (src/images/extract-all.ts,
// extractsDirect): nothing walked or linked, and where the layer must be
// read again through scratch (it replaces one of its own directories) it
// is read from its spool file, the blob fetched once.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { hasRegistry, missingRegistryTools, pushImage, type Registry, startFaultProxy, startRegistry, testImage } from '../fixtures/registry.js';
import { diffSnapshots, scratch, snapshot } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';
import { pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;
const T = 1_600_000_000;

/** A provisioned tree; the root's times left out: the test image's tar has no "./" entry, so the root is made when provisioned. */
function tree(dir: string) {
  const t = snapshot(dir);
  const root = t.get('');
  if (root) t.set('', { ...root, atimeNs: 0n, mtimeNs: 0n } as typeof root);
  return t;
}

describe.skipIf(!hasRegistry)(`a one-layer image from a registry${why}`, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(() => registry?.stop());

  it('goes straight into the rootfs (nothing walked) and equals provision oci: of the same image', async () => {
    const image = testImage(path.join(scratch(), 'one'), { layers: 1, sizeMb: 1, seed: 21 });
    await pushImage(image, registry, 'app/one:1');
    const dir = scratch();
    const local = await provision([image], path.join(dir, 'local'));
    const r = await pull(['--tls-verify=false', `docker://${registry.host}/app/one:1`, path.join(dir, 'pulled')]);
    expect(r.status, r.stderr).toBe(0);
    expect([(r.json.timings as { walkMs: number }).walkMs, local.timings.walkMs]).toEqual([0, 0]);
    expect(diffSnapshots(tree(path.join(dir, 'local')), tree(path.join(dir, 'pulled')))).toEqual([]);
    expect(fs.readdirSync(dir).sort()).toEqual(['local', 'pulled']);
  });

  it('a layer that replaces one of its own directories is read again from its spool file while it downloads: the blob fetched once', async () => {
    // The directory a/ replaced by a file early, then 2 MiB more: over a 1 MiB/s link the restart comes while the download goes on.
    const filler = crypto.randomBytes(2 << 20);
    const tar = rawTar([
      { name: 'a/', type: '5', mode: 0o755, mtime: T },
      { name: 'a/b', data: 'b', mtime: T },
      { name: 'a', data: 'now a file', mode: 0o644, mtime: T },
      { name: 'filler', data: filler, mode: 0o644, mtime: T },
    ]);
    const layout = ociImage(path.join(scratch(), 'restart'), { layers: [tar], compression: 'gzip' });
    await pushImage(`oci:${layout}:latest`, registry, 'app/restart:1');
    const proxy = await startFaultProxy(registry.url, { rateBytesPerSec: 1 << 20 });
    try {
      const dir = scratch();
      const r = await pull(['--tls-verify=false', `docker://${proxy.host}/app/restart:1`, path.join(dir, 'root')]);
      expect(r.status, r.stderr).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'root', 'a'), 'utf8')).toBe('now a file');
      expect(fs.readFileSync(path.join(dir, 'root', 'filler')).equals(filler)).toBe(true);
      expect(r.json).toMatchObject({ entries: 2, directories: 0 });
      const blobGets = proxy.requests().filter((q) => q.method === 'GET' && /\/blobs\/sha256:/.test(q.path));
      // The config and the layer, each once.
      expect(blobGets).toHaveLength(2);
      expect(fs.readdirSync(dir)).toEqual(['root']);
    } finally {
      await proxy.stop();
    }
  });
});
