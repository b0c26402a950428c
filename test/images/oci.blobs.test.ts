// An OCI layout's files that are not what a blob is: missing, a FIFO, a
// directory, far longer than its descriptor, a link to any of them. Each is a clear
// error naming the blob, at once (a FIFO once held the process forever),
// and nothing is left.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { ociImage, rawTar } from './fixtures.js';

const one = (name: string, data: string) => rawTar([{ name, data }]);
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

/** A two-layer layout, its manifest, and a blob's path by digest. */
function image(dir: string) {
  const layout = path.join(dir, 'img');
  ociImage(layout, { layers: [one('a', 'a'), one('b', 'b')] });
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8')).manifests[0];
  const blob = (digest: string) => path.join(layout, 'blobs', digest.replace(':', '/'));
  const m = JSON.parse(fs.readFileSync(blob(index.digest), 'utf8'));
  return { layout, m, blob };
}

/** Replaces a file by a FIFO no one writes to. */
function fifo(file: string) {
  fs.rmSync(file);
  execFileSync('mkfifo', [file]);
}

async function refused(dir: string, layout: string) {
  const r = await provision([`oci:${layout}:latest`], path.join(dir, 'root')).catch((e) => e);
  expect(leftovers(dir)).toEqual([]);
  return r;
}

describe('blobs that are not regular files', () => {
  it('a layer blob that is a FIFO: ERR_INVALID_IMAGE naming the layer and its digest, without waiting for a writer', async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    fifo(blob(m.layers[1].digest));
    const r = await refused(dir, layout);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE', path: `blobs/sha256/${m.layers[1].digest.slice(7)}` });
    expect(r.message).toContain(`: image layer 2/2 ${m.layers[1].digest}: the blob is a FIFO, not a regular file`);
    // The argument is LAYER 1; the blob is the image's second layer of two: said apart.
    expect(r.message).toMatch(new RegExp(`^layer 1 \\(oci:${layout}:latest\\): image layer 2/2 ${m.layers[1].digest}: `));
  }, 10_000);

  it('a config that is a FIFO, and an index.json that is one', async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    fifo(blob(m.config.digest));
    expect((await refused(dir, layout)).message).toContain(`config ${m.config.digest}: the blob is a FIFO, not a regular file`);
    fifo(path.join(layout, 'index.json'));
    const r = await refused(dir, layout);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.message).toContain('not an OCI image layout (index.json is a FIFO, not a regular file)');
  }, 10_000);

  it('a layer blob that is a symlink is read at its target, as containers/image and umoci read it', async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    for (const [i, d] of m.layers.entries()) {
      const file = blob(d.digest);
      fs.renameSync(file, path.join(dir, `elsewhere-${i}`));
      // One absolute link, one relative, as a content store links them.
      fs.symlinkSync(i === 0 ? path.join(dir, `elsewhere-${i}`) : path.relative(path.dirname(file), path.join(dir, `elsewhere-${i}`)), file);
    }
    await provision([`oci:${layout}:latest`], path.join(dir, 'root'));
    expect(['a', 'b'].map((n) => fs.readFileSync(path.join(dir, 'root', n), 'utf8'))).toEqual(['a', 'b']);
  });

  it("a layer blob linked to what is not its blob: the target's kind, a dangling link as missing, a loop as one, other bytes as a digest mismatch", async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    const file = blob(m.layers[0].digest);
    fs.rmSync(file);
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    fs.symlinkSync(path.join(dir, 'fifo'), file);
    expect((await refused(dir, layout)).message).toContain(`: image layer 1/2 ${m.layers[0].digest}: the blob is a FIFO, not a regular file`);
    fs.rmSync(file);
    fs.symlinkSync(path.join(dir, 'none'), file);
    expect((await refused(dir, layout)).message).toContain(`: image layer 1/2 ${m.layers[0].digest}: blob missing (ENOENT)`);
    fs.rmSync(file);
    fs.symlinkSync(blob(m.layers[1].digest), file);
    expect(await refused(dir, layout)).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    fs.rmSync(file);
    fs.symlinkSync(path.basename(file), file);
    expect((await refused(dir, layout)).message).toContain(`: image layer 1/2 ${m.layers[0].digest}: the blob is a symlink in a loop (ELOOP)`);
  }, 10_000);

  it('a layer blob that is a directory is named as such; a missing one as missing', async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    const file = blob(m.layers[0].digest);
    fs.rmSync(file);
    fs.mkdirSync(file);
    expect((await refused(dir, layout)).message).toContain(`: image layer 1/2 ${m.layers[0].digest}: the blob is a directory, not a regular file`);
    fs.rmdirSync(file);
    const r = await refused(dir, layout);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.message).toContain(`: image layer 1/2 ${m.layers[0].digest}: blob missing (ENOENT)`);
  });

  it('a config far longer than its descriptor is refused by its length, not read whole', async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    // 64 GiB, sparse: read whole it would not fit in memory.
    fs.truncateSync(blob(m.config.digest), 64 * 2 ** 30);
    const r = await refused(dir, layout);
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r.message).toContain(`config blob does not match its descriptor: the blob is longer than the descriptor's ${m.config.size} bytes`);
  });

  it('an index.json past 64 MiB is refused as too large, not read in part and parsed', async () => {
    const dir = scratch();
    const { layout } = image(dir);
    fs.truncateSync(path.join(layout, 'index.json'), 65 * 2 ** 20);
    const r = await refused(dir, layout);
    expect(r).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.message).toContain(`index.json is larger than ${64 * 2 ** 20} bytes`);
  });

  it("an oci-archive's config past 4 MiB and its descriptor is named as a layout directory's is, not as 'a member at offset N'", async () => {
    const dir = scratch();
    const { layout, m, blob } = image(dir);
    fs.truncateSync(blob(m.config.digest), 5 * 2 ** 20);
    const file = path.join(dir, 'img.tar');
    execFileSync('tar', ['-C', layout, '-cf', file, '.']);
    fs.rmSync(layout, { recursive: true });
    const r = await provision([`oci-archive:${file}:latest`], path.join(dir, 'root')).catch((e) => e);
    expect(r).toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(r.message).toContain(`config blob does not match its descriptor: the blob is longer than the descriptor's ${m.config.size} bytes`);
  });
});
