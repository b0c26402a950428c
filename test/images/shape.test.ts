// An image given where a layer was expected (the transport left off) is
// refused with the reference to use; a layer that merely holds an image's
// file names stays a layer.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { onPath } from '../fixtures/registry-process.js';
import { buildLayer, scratch } from '../helpers.js';
import { ociImage, rawTar } from './fixtures.js';

const layer = () => rawTar([{ name: 'etc/hostname', data: 'h' }]);
const tarOf = (dir: string, file: string) => {
  execFileSync('tar', ['-C', dir, '-cf', file, '.']);
  return file;
};
/** What a failed provision left beside ROOTFS: nothing, or the test fails. */
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

async function refusal(dir: string, given: string) {
  const error = await provision([given], path.join(dir, 'root')).catch((e) => e);
  expect(leftovers(dir)).toEqual([]);
  return error;
}

describe('an image given as a plain LAYER', () => {
  it('an OCI layout directory is refused: did you mean oci:PATH?', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    expect(await refusal(dir, layout)).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      layer: layout,
      layerIndex: 0,
      message: `layer 1 (${layout}): is an OCI image layout, not a layer directory; did you mean oci:${layout}?`,
    });
  });

  it('an oci-archive (a tar of a layout) is refused: did you mean oci-archive:FILE?', async () => {
    const dir = scratch();
    const file = tarOf(ociImage(path.join(dir, 'app'), { layers: [layer()] }), path.join(dir, 'app.tar'));
    expect(await refusal(dir, file)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`did you mean oci-archive:${file}?`) });
  });

  it('a docker-archive is refused: did you mean docker-archive:FILE?', async () => {
    const dir = scratch();
    const src = path.join(dir, 'src');
    fs.mkdirSync(path.join(src, 'abc'), { recursive: true });
    fs.writeFileSync(path.join(src, 'abc', 'layer.tar'), layer());
    fs.writeFileSync(path.join(src, `${'e'.repeat(64)}.json`), '{}');
    fs.writeFileSync(path.join(src, 'manifest.json'), JSON.stringify([{ Config: `${'e'.repeat(64)}.json`, RepoTags: ['app:1'], Layers: ['abc/layer.tar'] }]));
    const file = tarOf(src, path.join(dir, 'app.tar'));
    // abc is no 64-hex layer directory: a layer holding manifest.json and abc/ stays a layer…
    expect(await provision([file], path.join(dir, 'root'))).toMatchObject({ layers: 1 });
    // …while docker save's own names make it an archive.
    fs.renameSync(path.join(src, 'abc'), path.join(src, 'f'.repeat(64)));
    fs.writeFileSync(path.join(src, 'manifest.json'), JSON.stringify([{ Config: `${'e'.repeat(64)}.json`, RepoTags: ['app:1'], Layers: [`${'f'.repeat(64)}/layer.tar`] }]));
    const archive = tarOf(src, path.join(dir, 'save.tar'));
    const out = scratch();
    const error = await provision([archive], path.join(out, 'root')).catch((e) => e);
    expect(error).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining(`is an image archive (docker-archive), not a layer tarball; did you mean docker-archive:${archive}?`),
    });
    expect(leftovers(out)).toEqual([]);
  });

  it('a Docker 25 archive (manifest.json beside an OCI layout) names both references', async () => {
    const dir = scratch();
    const src = ociImage(path.join(dir, 'src'), { layers: [layer()] });
    const [blob] = fs.readdirSync(path.join(src, 'blobs/sha256'));
    fs.writeFileSync(path.join(src, 'manifest.json'), JSON.stringify([{ Config: `blobs/sha256/${blob}`, RepoTags: ['app:1'], Layers: [`blobs/sha256/${blob}`] }]));
    const file = tarOf(src, path.join(dir, 'app.tar'));
    expect(await refusal(dir, file)).toMatchObject({ message: expect.stringContaining(`did you mean docker-archive:${file} or oci-archive:${file}?`) });
  });

  it('a skopeo dir: image is refused, saying layercopy does not read dir: and how to convert it', async () => {
    const dir = scratch();
    const img = buildLayer(path.join(dir, 'img'), { 'manifest.json': '{}', version: 'Directory Transport Version: 1.1\n' });
    expect(await refusal(dir, img)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`skopeo copy dir:${img} oci:DIR:TAG`) });
  });

  it('a layer directory holding index.json, oci-layout and manifest.json but no blobs/ stays a layer', async () => {
    const dir = scratch();
    const l = buildLayer(path.join(dir, 'l'), { 'index.json': '{}', 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'manifest.json': '[]', 'etc/x': 'x' });
    expect(await provision([l], path.join(dir, 'root'))).toMatchObject({ layers: 1 });
    expect(fs.readdirSync(path.join(dir, 'root')).sort()).toEqual(['etc', 'index.json', 'manifest.json', 'oci-layout']);
  });

  it('a layer tarball holding manifest.json beside etc/ stays a layer', async () => {
    const dir = scratch();
    const file = path.join(dir, 'l.tar');
    fs.writeFileSync(
      file,
      rawTar([
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c', Layers: [] }]) },
        { name: 'etc/hostname', data: 'h' },
      ]),
    );
    await provision([file], path.join(dir, 'root'));
    expect(fs.readdirSync(path.join(dir, 'root')).sort()).toEqual(['etc', 'manifest.json']);
  });
});

describe.runIf(onPath('skopeo'))('image archives as skopeo writes them [needs skopeo]', () => {
  it('a docker-archive written by skopeo (<hex>.tar layers, <hex>.json config) is refused: did you mean docker-archive:?', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    const file = path.join(dir, 'da.tar');
    execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${layout}:latest`, `docker-archive:${file}:img:t`]);
    expect(await refusal(dir, file)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`did you mean docker-archive:${file}?`) });
  });
});
