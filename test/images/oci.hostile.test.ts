// OCI layouts written to make the reader spin or stumble: indexes fanned out
// over one child, JSON of the wrong shape. Each ends at once with a coded
// error naming the layout, and nothing is left. Run through the CLI: a
// reader that spins holds its thread, so only a child process can be given up.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { scratch } from '../helpers.js';
import { addImage, ociImage, rawTar, writeBlob, writeIndex } from './fixtures.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const INDEX = 'application/vnd.oci.image.index.v1+json';

/** Provisions through the CLI, killed after 60 s; its exit status, its JSON error, what is left beside the rootfs. */
async function provisionCli(dir: string, layer: string) {
  const r = await execa('node', [cli, 'provision', '--json', layer, path.join(dir, 'root')], { reject: false, timeout: 60_000 });
  const error = r.stdout ? JSON.parse(r.stdout).error : undefined;
  return { status: r.exitCode, error, left: fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy')) };
}

describe('nested indexes', () => {
  it('an index listing one child index 10,000 times, which lists one manifest as often: each read once, the platforms listed once', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const manifest = { ...addImage(layout, { layers: [rawTar([{ name: 'a', data: 'a' }])] }), platform: { os: 'linux', architecture: 'arm64' } };
    const fan = (child: object) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: Array(10_000).fill(child) }));
    const inner = { mediaType: INDEX, ...writeBlob(layout, fan(manifest)) };
    writeIndex(layout, [{ mediaType: INDEX, ...writeBlob(layout, fan(inner)), ref: 't' }]);
    const r = await provisionCli(dir, `oci:${layout}:t`);
    expect(r.status).toBe(1);
    expect(r.error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(r.error.message).toMatch(/no image for linux\/\w+; there are: linux\/arm64 \(choose with --platform\)$/);
    expect(r.left).toEqual([]);
  }, 70_000);

  it('two index entries whose ref.name annotations are lists nested 500,000 deep: listed by their kind, no stack overflow', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const m = addImage(layout, { layers: [rawTar([{ name: 'a', data: 'a' }])] });
    const deep = `${'['.repeat(500_000)}${']'.repeat(500_000)}`;
    const entry = `{"mediaType":"${m.mediaType}","digest":"${m.digest}","size":${m.size},"annotations":{"org.opencontainers.image.ref.name":${deep}}}`;
    writeIndex(layout, []);
    fs.writeFileSync(path.join(layout, 'index.json'), `{"schemaVersion":2,"manifests":[${entry},${entry}]}`);
    const { error } = await refused(dir, layout, `oci:${layout}`);
    expect(error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND', message: expect.stringContaining(`name one (oci:${layout}:REFERENCE): (a list) sha256:`) });
  });

  it("an index entry whose platform's os is a list nested a million deep: the platforms listed with '?', no stack overflow", async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const os = `${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`;
    const manifest = addImage(layout, { layers: [rawTar([{ name: 'a', data: 'a' }])] });
    const index = Buffer.from(
      `{"schemaVersion":2,"manifests":[{"mediaType":"${manifest.mediaType}","digest":"${manifest.digest}","size":${manifest.size},"platform":{"os":${os},"architecture":"arm64"}}]}`,
    );
    writeIndex(layout, [{ mediaType: INDEX, ...writeBlob(layout, index), ref: 't' }]);
    const { error } = await refused(dir, layout);
    expect(error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND', message: expect.stringMatching(/there are: \?\/arm64 \(choose with --platform\)$/) });
  });
});

/** A one-layer layout whose file `name` is replaced by `json`; the provision's error, nothing left. */
async function refusedWith(json: string, name: 'oci-layout' | 'index.json') {
  const dir = scratch();
  const layout = ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'a', data: 'a' }])], ref: 't' });
  fs.writeFileSync(path.join(layout, name), json);
  return refused(dir, layout);
}

/** A layout of one manifest (JSON as given) over the config `config` (JSON as given); the provision's error, nothing left. */
async function refusedBlobs(manifest: (config: object) => unknown, config: unknown) {
  const dir = scratch();
  const layout = path.join(dir, 'img');
  const c = { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(layout, Buffer.from(JSON.stringify(config))) };
  const m = writeBlob(layout, Buffer.from(JSON.stringify(manifest(c))));
  writeIndex(layout, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, ref: 't' }]);
  return { ...(await refused(dir, layout)), manifest: m.digest, config: c.digest };
}

async function refused(dir: string, layout: string, image = `oci:${layout}:t`) {
  const error = await provision([image], path.join(dir, 'root')).catch((e) => e);
  expect(fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'))).toEqual([]);
  return { error };
}

describe('JSON of the wrong shape: ERR_INVALID_IMAGE naming the layout and the part, not a TypeError', () => {
  it('index.json that is null', async () => {
    const { error } = await refusedWith('null', 'index.json');
    expect(error).toMatchObject({ code: 'ERR_INVALID_IMAGE', layerIndex: 0 });
    expect(error.message).toMatch(/^layer 1 \(oci:.*:t\): index\.json is null, not a JSON object$/);
  });

  it('index.json whose manifests are an object, or hold a number', async () => {
    expect((await refusedWith('{"manifests":{"a":1}}', 'index.json')).error.message).toMatch(/: index\.json: manifests is an object, not a list$/);
    const { error } = await refusedWith('{"manifests":[5]}', 'index.json');
    expect(error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(error.message).toMatch(/: index\.json: manifests\[0\] is a number, not a JSON object$/);
  });

  it('a manifest whose layers hold null', async () => {
    const r = await refusedBlobs((config) => ({ schemaVersion: 2, config, layers: [null] }), { rootfs: { diff_ids: [] } });
    expect(r.error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.error.message).toContain(`: manifest ${r.manifest}: layers[0] is null, not a JSON object`);
  });

  it('a config whose diff_id is no sha256 digest (a path climbing out, as a store would name files by it)', async () => {
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'a'.repeat(64)}`, size: 1 };
    const r = await refusedBlobs((config) => ({ schemaVersion: 2, config, layers: [layer] }), { rootfs: { diff_ids: ['sha256:../../../tmp/x'] } });
    expect(r.error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.error.message).toContain(`: config ${r.config}: rootfs: diff_ids[0] is "sha256:../../../tmp/x", not a sha256 digest`);
  });

  it('a config whose diff_ids are a string', async () => {
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'a'.repeat(64)}`, size: 1 };
    const r = await refusedBlobs((config) => ({ schemaVersion: 2, config, layers: [layer] }), { rootfs: { diff_ids: 'x' } });
    expect(r.error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
    expect(r.error.message).toContain(`: config ${r.config}: rootfs: diff_ids is a string, not a list`);
  });

  it('a layer descriptor without a size, or with one that is a string or negative (the OCI spec requires it; a registry then sent bytes without end)', async () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    for (const [size, said] of [
      [undefined, "size is missing (a descriptor must give its blob's size)"],
      ['91', 'size is a string, not a whole number of bytes'],
      [-1, 'size is -1, not a whole number of bytes'],
    ] as const) {
      const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, ...(size === undefined ? {} : { size }) };
      const r = await refusedBlobs((config) => ({ schemaVersion: 2, config, layers: [layer] }), { rootfs: { diff_ids: [digest] } });
      expect(r.error).toMatchObject({ code: 'ERR_INVALID_IMAGE' });
      expect(r.error.message).toContain(`: manifest ${r.manifest}: layers[0]: ${said}`);
    }
  });

  it('oci-layout that is a list', async () => {
    expect((await refusedWith('[]', 'oci-layout')).error).toMatchObject({
      code: 'ERR_INVALID_IMAGE',
      message: expect.stringMatching(/: oci-layout is a list, not a JSON object$/),
    });
  });
});

describe('listings in messages', () => {
  it('a layout of 25 images and none named: the first 20 listed, and how many more', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const manifest = addImage(layout, { layers: [rawTar([{ name: 'a', data: 'a' }])] });
    writeIndex(
      layout,
      Array.from({ length: 25 }, (_, i) => ({ ...manifest, ref: `r${i}` })),
    );
    const { error } = await refused(dir, layout, `oci:${layout}`);
    expect(error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(error.message).toMatch(/: r0 sha256:\w+…, r1 .*, r19 sha256:\w+…, and 5 more$/);
    expect(error.message).not.toContain('r20');
  });
});

describe("a layout's own files that are links out of it", () => {
  it.each(['index.json', 'oci-layout'])('%s linked to a file outside: refused as a link, nothing of the file read or quoted', async (name) => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'a', data: 'a' }])], ref: 't' });
    const secret = path.join(dir, 'secret');
    fs.writeFileSync(secret, '{"imageLayoutVersion":"SECRET-123","manifests":"root:$6$SECRET"}');
    fs.rmSync(path.join(layout, name));
    fs.symlinkSync(secret, path.join(layout, name));
    const before = fs.statSync(secret).atimeMs;
    const r = await provisionCli(dir, `oci:${layout}:t`);
    expect(r.status).toBe(1);
    expect(r.error.message).toBe(`layer 1 (oci:${layout}:t): not an OCI image layout (${name} is a symlink, not a regular file)`);
    expect(r.error.message).not.toMatch(/SECRET/);
    expect(fs.statSync(secret).atimeMs).toBe(before);
    expect(r.left).toEqual([]);
  });
});
