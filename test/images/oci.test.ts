// OCI image layouts: which image a reference names, for which platform, and
// what is verified on the way (descriptors, diff_ids).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { hostPlatform } from '../../src/images/oci.js';
import { provision } from '../../src/index.js';
import { buildLayer, diffSnapshots, scratch, snapshot } from '../helpers.js';
import { addImage, compress, hasZstd, indexOf, ociImage, rawTar, tarDir, writeBlob, writeIndex } from './fixtures.js';

const one = (name: string, data: string) => rawTar([{ name, data }]);
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

describe('oci:PATH[:REFERENCE]', () => {
  it('provisions the image a reference names, its layers in order, whiteouts applied', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    writeIndex(layout, [
      { ...addImage(layout, { layers: [one('a', 'app v1')] }), ref: 'v1' },
      {
        ...addImage(layout, {
          layers: [
            rawTar([
              { name: 'a', data: 'base' },
              { name: 'b', data: 'b' },
            ]),
            rawTar([
              { name: '.wh.b', data: '' },
              { name: 'c', data: 'c' },
            ]),
          ],
        }),
        ref: 'v2',
      },
    ]);
    const summary = await provision([`oci:${layout}:v2`], path.join(dir, 'root'));
    expect(fs.readdirSync(path.join(dir, 'root')).sort()).toEqual(['a', 'c']);
    expect(summary.layers).toBe(2);
    expect(summary.perLayer[1]).toMatchObject({
      layer: `oci:${layout}:v2`,
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      diffId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    });
  });

  it("the summary names each image argument's manifest, chosen from an index by platform, and that platform", async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const amd = addImage(layout, { layers: [one('a', 'amd64')], platform: { os: 'linux', architecture: 'amd64' } });
    const arm = addImage(layout, { layers: [one('a', 'arm64')], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    writeIndex(layout, [{ ...indexOf(layout, [amd, arm]), ref: 'multi' }]);
    const summary = await provision([`oci:${layout}:multi`], path.join(dir, 'root'), { platform: 'linux/arm64/v8' });
    expect(summary.images).toEqual([{ reference: `oci:${layout}:multi`, digest: arm.digest, platform: 'linux/arm64/v8' }]);
    const plain = await provision([buildLayer(path.join(dir, 'dir'), { f: 'x' })], path.join(dir, 'root2'));
    expect(plain.images).toEqual([]);
  });

  it('a missing reference, or none among several images: the error lists what the layout holds', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    writeIndex(layout, [
      { ...addImage(layout, { layers: [one('a', '1')] }), ref: 'v1' },
      { ...addImage(layout, { layers: [one('a', '2')] }), ref: 'v2' },
    ]);
    const missing = await provision([`oci:${layout}:v3`], path.join(dir, 'root')).catch((e) => e);
    expect(missing).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(missing.message).toMatch(/no image named 'v3'; the layout holds: v1 sha256:.*, v2 sha256:/);
    const unnamed = await provision([`oci:${layout}`], path.join(dir, 'root')).catch((e) => e);
    expect(unnamed.message).toMatch(/holds several images; name one/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('@sha256:DIGEST names a manifest', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const v1 = addImage(layout, { layers: [one('a', 'one')] });
    writeIndex(layout, [
      { ...v1, ref: 'v1' },
      { ...addImage(layout, { layers: [one('a', 'two')] }), ref: 'v2' },
    ]);
    await provision([`oci:${layout}@${v1.digest}`], path.join(dir, 'root'));
    expect(fs.readFileSync(path.join(dir, 'root/a'), 'utf8')).toBe('one');
  });

  it('a multi-platform index (nested): the host platform by default, options.platform to choose; none fitting lists them', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const host = hostPlatform();
    const other = host.architecture === 's390x' ? { os: 'linux', architecture: 'ppc64le' } : { os: 'linux', architecture: 's390x' };
    const index = indexOf(layout, [addImage(layout, { layers: [one('arch', 'host')], platform: host }), addImage(layout, { layers: [one('arch', 'other')], platform: other })]);
    writeIndex(layout, [{ ...index, ref: 'multi' }]);
    await provision([`oci:${layout}:multi`], path.join(dir, 'root'));
    expect(fs.readFileSync(path.join(dir, 'root/arch'), 'utf8')).toBe('host');
    await provision([`oci:${layout}:multi`], path.join(dir, 'root2'), { platform: `${other.os}/${other.architecture}` });
    expect(fs.readFileSync(path.join(dir, 'root2/arch'), 'utf8')).toBe('other');
    const none = await provision([`oci:${layout}:multi`], path.join(dir, 'root3'), { platform: 'windows/amd64' }).catch((e) => e);
    expect(none).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(none.message).toMatch(new RegExp(`no image for windows/amd64; there are: linux/${host.architecture}.*, linux/${other.architecture}`));
  });

  it('a lone image whose config names another platform is refused, naming both; options.platform provisions it', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const other = hostPlatform().architecture === 's390x' ? 'ppc64le' : 's390x';
    writeIndex(layout, [{ ...addImage(layout, { layers: [one('a', 'a')], configPlatform: { os: 'linux', architecture: other } }), ref: 't' }]);
    const r = await provision([`oci:${layout}:t`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(r.message).toBe(
      `layer 1 (oci:${layout}:t): the image is for linux/${other}, not ${[hostPlatform().os, hostPlatform().architecture, hostPlatform().variant].filter(Boolean).join('/')} (choose with --platform linux/${other})`,
    );
    expect(fs.existsSync(path.join(dir, 'root'))).toBe(false);
    await provision([`oci:${layout}:t`], path.join(dir, 'root'), { platform: `linux/${other}` });
    expect(fs.readFileSync(path.join(dir, 'root/a'), 'utf8')).toBe('a');
  });

  async function sameAsDirectories(compression: 'none' | 'gzip' | 'zstd') {
    const dir = scratch();
    const l0 = buildLayer(path.join(dir, 'l0'), {
      'etc/a': 'a',
      'etc/b': { file: 'b', mode: 0o600 },
      'usr/bin/x': { file: 'x', mode: 0o755 },
      'usr/lib/l': { symlink: '../bin/x' },
    });
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/.wh.a': '', 'etc/c': 'c', 'usr/.wh..wh..opq': '', 'usr/new': 'n' });
    const layout = ociImage(path.join(dir, 'img'), { layers: [tarDir(l0), tarDir(l1)], compression });
    await provision([l0, l1], path.join(dir, 'dirs'));
    await provision([`oci:${layout}:latest`], path.join(dir, 'image'));
    expect(diffSnapshots(snapshot(path.join(dir, 'dirs'), { atime: false }), snapshot(path.join(dir, 'image'), { atime: false }))).toEqual([]);
  }

  it.each(['none', 'gzip'] as const)('layers as tar+%s equal the same layers as directories', (compression) => sameAsDirectories(compression));

  it.runIf(hasZstd)('layers as tar+zstd equal the same layers as directories [needs the zstd command for fixtures]', () => sameAsDirectories('zstd'));
});

describe('verification', () => {
  function image(dir: string) {
    const layout = path.join(dir, 'img');
    ociImage(layout, { layers: [one('a', 'a'), one('b', 'b')] });
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0];
    const m = JSON.parse(fs.readFileSync(path.join(layout, 'blobs', manifest.digest.replace(':', '/')), 'utf8'));
    return { layout, m };
  }

  it('a layer blob that does not match its digest fails naming the layer and both digests; nothing is left', async () => {
    const dir = scratch();
    const { layout, m } = image(dir);
    const blob = path.join(layout, 'blobs', m.layers[1].digest.replace(':', '/'));
    fs.writeFileSync(blob, compress(one('b', 'B'), 'gzip'));
    const r = await provision([`oci:${layout}:latest`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r.message).toMatch(new RegExp(`layer 2/2 .*: blob (size|digest) does not match: expected ${m.layers[1].digest}|layer 2/2 .*blob size`));
    expect(leftovers(dir)).toEqual([]);
  });

  it.each([
    ['by the tar reader', undefined],
    ['in JS (LAYERCOPY_TAR_HASH=0: where Node exports no SHA-256)', '0'],
  ])("a layer whose uncompressed digest is not the config's diff_id fails, hashed %s; nothing is left", async (_how, knob) => {
    if (knob === undefined) delete process.env.LAYERCOPY_TAR_HASH;
    else process.env.LAYERCOPY_TAR_HASH = knob;
    onTestFinished(() => {
      delete process.env.LAYERCOPY_TAR_HASH;
    });
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const good = one('a', 'a');
    const desc = addImage(layout, { layers: [good] });
    // The same config, but the layer blob replaced by another tar whose descriptor is rewritten to match it.
    const manifestPath = path.join(layout, 'blobs', desc.digest.replace(':', '/'));
    const m = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    const other = ociImage(path.join(dir, 'tmp'), { layers: [one('a', 'tampered')] });
    const om = JSON.parse(
      fs.readFileSync(path.join(other, 'blobs', JSON.parse(fs.readFileSync(path.join(other, 'index.json'), 'utf8')).manifests[0].digest.replace(':', '/')), 'utf8'),
    );
    m.layers[0] = om.layers[0];
    fs.copyFileSync(path.join(other, 'blobs', om.layers[0].digest.replace(':', '/')), path.join(layout, 'blobs', om.layers[0].digest.replace(':', '/')));
    const data = Buffer.from(JSON.stringify(m));
    const digest = `sha256:${(await import('node:crypto')).createHash('sha256').update(data).digest('hex')}`;
    fs.writeFileSync(path.join(layout, 'blobs', digest.replace(':', '/')), data);
    writeIndex(layout, [{ mediaType: desc.mediaType, digest, size: data.length, ref: 'latest' }]);
    const r = await provision([`oci:${layout}:latest`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r.message).toMatch(/uncompressed digest \(diff_id\) does not match: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('an artifact (a Helm chart: its config of another media type) is refused as no container image, naming the type', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'chart');
    const config = { mediaType: 'application/vnd.cncf.helm.config.v1+json', ...writeBlob(layout, Buffer.from('{"name":"app","version":"1.0.0"}')) };
    const chart = { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', ...writeBlob(layout, compress(rawTar([{ name: 'Chart.yaml', data: 'name: app' }]), 'gzip')) };
    const data = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers: [chart] }));
    writeIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...writeBlob(layout, data), ref: 'latest' }]);
    const r = await provision([`oci:${layout}:latest`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.message).toMatch(/manifest sha256:[0-9a-f]{64} is not a container image: its config is application\/vnd\.cncf\.helm\.config\.v1\+json \(an artifact/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a manifest blob that does not match its descriptor is refused before any layer is read', async () => {
    const dir = scratch();
    const { layout } = image(dir);
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0];
    fs.appendFileSync(path.join(layout, 'blobs', manifest.digest.replace(':', '/')), ' ');
    const r = await provision([`oci:${layout}:latest`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r.message).toMatch(/manifest blob does not match its descriptor/);
  });

  it.each([
    ['truncated gzip', (b: Buffer) => compress(b, 'gzip').subarray(0, 40), /gzip: unexpected end of file/],
    ['corrupt gzip', (b: Buffer) => Buffer.concat([compress(b, 'gzip').subarray(0, 12), Buffer.alloc(64, 0x41)]), /gzip: /],
  ])('a %s layer file is a clear error; nothing is left', async (_name, mangle, message) => {
    const dir = scratch();
    const file = path.join(dir, 'layer');
    fs.writeFileSync(file, mangle(rawTar([{ name: 'a', data: 'x'.repeat(5000) }])));
    const r = await provision([file], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect(r.message).toMatch(message);
    expect(leftovers(dir)).toEqual([]);
  });

  it.runIf(hasZstd)('a truncated zstd layer file is a clear error; nothing is left [needs the zstd command for fixtures]', async () => {
    const dir = scratch();
    const file = path.join(dir, 'layer');
    fs.writeFileSync(file, compress(rawTar([{ name: 'a', data: 'x'.repeat(5000) }]), 'zstd').subarray(0, 20));
    const r = await provision([file], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_TAR' });
    expect(r.message).toMatch(/zstd: /);
    expect(leftovers(dir)).toEqual([]);
  });
});
