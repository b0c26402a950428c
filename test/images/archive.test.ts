// docker-archive: images as `docker save` and `skopeo copy … docker-archive:`
// write them, layers streamed out of the archive by offset.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanTar } from '../../src/images/members.js';
import { hostPlatform } from '../../src/images/oci.js';
import { provision } from '../../src/index.js';
import { buildLayer, diffSnapshots, scratch, snapshot } from '../helpers.js';
import { compress, rawTar, tarDir } from './fixtures.js';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** A docker-archive of images, each { tags, layers (uncompressed tars), gzip?: compress the layer tars }. */
function dockerArchive(dir: string, images: { tags: string[]; layers: Buffer[]; gzip?: boolean; architecture?: string }[]): string {
  const root = path.join(dir, 'archive-src');
  fs.mkdirSync(root, { recursive: true });
  const manifest = images.map((image) => {
    const layers = image.layers.map((tar) => {
      const data = image.gzip ? compress(tar, 'gzip') : tar;
      const name = `blobs/sha256/${sha(data)}`;
      fs.mkdirSync(path.join(root, 'blobs/sha256'), { recursive: true });
      fs.writeFileSync(path.join(root, name), data);
      return name;
    });
    const platform = image.architecture ? { os: 'linux', architecture: image.architecture } : {};
    const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: image.layers.map((t) => `sha256:${sha(t)}`) } }));
    const configName = `blobs/sha256/${sha(config)}`;
    fs.writeFileSync(path.join(root, configName), config);
    return { Config: configName, RepoTags: image.tags, Layers: layers };
  });
  fs.writeFileSync(path.join(root, 'manifest.json'), JSON.stringify(manifest));
  const file = path.join(dir, 'image.tar');
  execFileSync('tar', ['-C', root, '-cf', file, '.']);
  return file;
}

describe('docker-archive:FILE[:NAME:TAG]', () => {
  it('provisions the tagged image; its layers (gzip inside the archive too) equal the same layers as directories', async () => {
    const dir = scratch();
    const l0 = buildLayer(path.join(dir, 'l0'), { 'etc/a': 'a', 'usr/bin/x': { file: 'x', mode: 0o755 }, 'usr/lib/l': { symlink: '../bin/x' } });
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/.wh.a': '', 'etc/b': 'b' });
    const file = dockerArchive(dir, [
      { tags: ['example/other:1'], layers: [rawTar([{ name: 'other', data: 'o' }])] },
      { tags: ['docker.io/library/app:1.0'], layers: [tarDir(l0), tarDir(l1)], gzip: true },
    ]);
    await provision([l0, l1], path.join(dir, 'dirs'));
    const summary = await provision([`docker-archive:${file}:app:1.0`], path.join(dir, 'image'));
    // Each layer's line names the argument as given, with its full digests beside it.
    expect(summary.perLayer.map((l) => [l.layer, l.diffId])).toEqual([
      [`docker-archive:${file}:app:1.0`, `sha256:${sha(tarDir(l0))}`],
      [`docker-archive:${file}:app:1.0`, `sha256:${sha(tarDir(l1))}`],
    ]);
    expect(diffSnapshots(snapshot(path.join(dir, 'dirs'), { atime: false }), snapshot(path.join(dir, 'image'), { atime: false }))).toEqual([]);
    await provision([`docker-archive:${file}:@0`], path.join(dir, 'first'));
    expect(fs.readdirSync(path.join(dir, 'first'))).toEqual(['other']);
  });

  it('a missing tag, or several images and none named: the error lists the tags', async () => {
    const dir = scratch();
    const file = dockerArchive(dir, [
      { tags: ['a:1'], layers: [rawTar([{ name: 'x', data: 'x' }])] },
      { tags: ['b:2'], layers: [rawTar([{ name: 'y', data: 'y' }])] },
    ]);
    const missing = await provision([`docker-archive:${file}:c:3`], path.join(dir, 'root')).catch((e) => e);
    expect(missing).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(missing.message).toMatch(/no image 'c:3'; the archive holds: a:1 \(@0\); b:2 \(@1\)$/);
    // An index past the last: the indexes there are are listed too.
    expect((await provision([`docker-archive:${file}:@5`], path.join(dir, 'root')).catch((e) => e)).message).toMatch(/no image '@5'; the archive holds: a:1 \(@0\); b:2 \(@1\)$/);
    const none = await provision([`docker-archive:${file}`], path.join(dir, 'root')).catch((e) => e);
    expect(none.message).toMatch(/holds several images; name one/);
  });

  it.each(['Layers', 'Config'] as const)('a member of %s stored under its digest that does not match it: ERR_DIGEST_MISMATCH, nothing left', async (part) => {
    const dir = scratch();
    const file = dockerArchive(dir, [{ tags: ['a:1'], layers: [rawTar([{ name: 'x', data: 'x' }])], gzip: true }]);
    const members = scanTar(file, 'test');
    const listing = members.get('manifest.json')!;
    const manifest = JSON.parse(
      fs
        .readFileSync(file)
        .subarray(listing.offset, listing.offset + listing.size)
        .toString('utf8'),
    );
    const name: string = part === 'Layers' ? manifest[0].Layers[0] : manifest[0].Config;
    const m = members.get(name)!;
    // Flip a byte 12 from its end (the gzip stream's data, or the config's JSON): the member no longer matches the digest it is stored under.
    const fd = fs.openSync(file, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, m.offset + m.size - 12);
    b[0] ^= 0xff;
    fs.writeSync(fd, b, 0, 1, m.offset + m.size - 12);
    fs.closeSync(fd);
    const r = await provision([`docker-archive:${file}:a:1`], path.join(dir, 'root')).catch((e) => e);
    // Stored under its digest, the corrupt member is a mismatch whatever the gzip reader or the JSON parser made of it.
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    if (part === 'Config') expect(r.message).toContain(`config ${name} does not match its digest`);
    expect(fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'))).toEqual([]);
  });

  it('an archive cut short inside a layer: ERR_INVALID_IMAGE saying so, naming the member, its offset and where the file ends', async () => {
    const dir = scratch();
    const file = dockerArchive(dir, [{ tags: ['a:1'], layers: [rawTar([{ name: 'x', data: 'x'.repeat(5000) }])] }]);
    // The layer tar: the one member over 5000 bytes (the config and manifest.json are small).
    const [name, m] = [...scanTar(file, 'test')].find(([, member]) => member.size > 5000)!;
    fs.truncateSync(file, m.offset + 100);
    const r = await provision([`docker-archive:${file}`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.message).toBe(
      `layer 1 (docker-archive:${file}): the archive is cut short: member ./${name} needs ${m.size} bytes at offset ${m.offset}, the file ends at ${m.offset + 100}`,
    );
    expect(fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'))).toEqual([]);
  });

  it('not a docker-archive: named so', async () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'x.tar'), rawTar([{ name: 'a', data: 'a' }]));
    const r = await provision([`docker-archive:${path.join(dir, 'x.tar')}`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.message).toMatch(/not a docker-archive \(no manifest\.json\)/);
  });

  it('a manifest.json of the wrong shape (an object; Layers a string; a config of null): ERR_INVALID_IMAGE naming the part, nothing left', async () => {
    const dir = scratch();
    const file = path.join(dir, 'x.tar');
    const refused = async (manifest: unknown, config = '{}') => {
      fs.writeFileSync(
        file,
        rawTar([
          { name: 'manifest.json', data: JSON.stringify(manifest) },
          { name: 'c.json', data: config },
        ]),
      );
      const r = await provision([`docker-archive:${file}`], path.join(dir, 'root')).catch((e) => e);
      expect(fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'))).toEqual([]);
      expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE', layerIndex: 0, path: file });
      return r.message.slice(`layer 1 (docker-archive:${file}): `.length);
    };
    expect(await refused({ Config: 'c.json', Layers: [] })).toBe('manifest.json is an object, not a list');
    expect(await refused([{ Config: 'c.json', Layers: 'l.tar' }])).toBe('manifest.json[0]: Layers is a string, not a list');
    expect(await refused([{ Config: 'c.json', Layers: [] }], 'null')).toBe('config c.json is null, not a JSON object');
  });

  it('an image whose config names another platform is refused; options.platform provisions it', async () => {
    const dir = scratch();
    const other = hostPlatform().architecture === 's390x' ? 'ppc64le' : 's390x';
    const file = dockerArchive(dir, [{ tags: ['a:1'], layers: [rawTar([{ name: 'x', data: 'x' }])], architecture: other }]);
    const r = await provision([`docker-archive:${file}`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(r.message).toContain(`the image is for linux/${other}, not linux/`);
    await provision([`docker-archive:${file}`], path.join(dir, 'root'), { platform: `linux/${other}` });
    expect(fs.readFileSync(path.join(dir, 'root/x'), 'utf8')).toBe('x');
  });
});
