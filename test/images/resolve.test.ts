// One rule for an image input's faults (docs/errors.md, "Inputs"): missing
// or of the wrong kind, ERR_INVALID_ARGUMENT; the right kind but malformed,
// ERR_INVALID_IMAGE; unreadable, the system's code. Each names the argument
// as given and its position among the LAYER arguments, never ROOTFS.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { provision } from '../../src/index.js';
import { buildLayer, nobodyCanRun, scratch } from '../helpers.js';
import { ociImage, rawTar, sha } from './fixtures.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const layer = (name = 'etc/hostname') => rawTar([{ name, data: 'h' }]);
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

async function failure(dir: string, layers: string[]) {
  const error = await provision(layers, path.join(dir, 'root')).catch((e) => e);
  expect(leftovers(dir)).toEqual([]);
  expect(error.message).not.toMatch(/provision .*root/);
  return error;
}

describe('an image input that is missing or of the wrong kind: ERR_INVALID_ARGUMENT', () => {
  it('a missing oci-archive file names the input and what was expected, not ROOTFS', async () => {
    const dir = scratch();
    const given = `oci-archive:${dir}/no/such.tar`;
    expect(await failure(dir, [given])).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      layer: given,
      layerIndex: 0,
      message: `layer 1 (${given}): ${dir}/no/such.tar does not exist (expected an oci-archive file)`,
    });
  });

  it('a mistyped oci: layout directory is missing, as a missing directory layer is', async () => {
    const dir = scratch();
    ociImage(path.join(dir, 'app'), { layers: [layer()] });
    expect(await failure(dir, [`oci:${dir}/appp:latest`])).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringContaining(`${dir}/appp does not exist`) });
  });

  it('an archive transport given a layout directory: did you mean oci:?', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    expect(await failure(dir, [`oci-archive:${layout}`])).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining(`${layout} is a directory, not an oci-archive file; it is an OCI image layout: did you mean oci:${layout}?`),
    });
  });

  it('oci: given an archive file: did you mean oci-archive:?', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    const file = path.join(dir, 'app.tar');
    execFileSync('tar', ['-C', layout, '-cf', file, '.']);
    expect(await failure(dir, [`oci:${file}`])).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining(`${file} is a file, not an OCI image layout directory; it is an image archive: did you mean oci-archive:${file}?`),
    });
  });

  it("layerIndex is the argument's position among the LAYER arguments, not the layers before it", async () => {
    const dir = scratch();
    const base = ociImage(path.join(dir, 'base'), { layers: [layer('a'), layer('b'), layer('c')] });
    const l = buildLayer(path.join(dir, 'l'), { x: 'x' });
    const given = `oci:${dir}/nope`;
    expect(await failure(dir, [`oci:${base}`, l, given])).toMatchObject({ layer: given, layerIndex: 2, message: expect.stringMatching(/^layer 3 /) });
  });
});

describe('an image of the right kind that is malformed: ERR_INVALID_IMAGE', () => {
  it('an index.json that is no JSON', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    fs.writeFileSync(path.join(layout, 'index.json'), '{"manifests": [');
    expect(await failure(dir, [`oci:${layout}`])).toMatchObject({ code: 'ERR_INVALID_IMAGE', layer: `oci:${layout}`, layerIndex: 0 });
  });

  it('an oci-archive cut short says so (it said "no oci-layout")', async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    const file = path.join(dir, 'app.tar');
    execFileSync('tar', ['-C', layout, '-cf', file, '.']);
    fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2));
    expect(await failure(dir, [`oci-archive:${file}`])).toMatchObject({
      code: 'ERR_INVALID_IMAGE',
      layer: `oci-archive:${file}`,
      layerIndex: 0,
      message: expect.stringContaining('the archive is cut short'),
    });
  });

  it.each([
    ['extracted (the tar reader)', rawTar([{ name: '../escape', data: 'x' }]), 'ERR_INVALID_TAR'],
    ['planned (a whiteout without a name)', rawTar([{ name: '.wh.', data: '' }]), 'ERR_INVALID_WHITEOUT'],
  ])("a layer's failure while it is %s carries the argument, its position and the layer's full digests", async (_what, bad, code) => {
    const dir = scratch();
    const l = buildLayer(path.join(dir, 'l'), { x: 'x' });
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer(), bad] });
    const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(fs.readFileSync(path.join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const error = await failure(dir, [l, `oci:${layout}`]);
    expect(error).toMatchObject({ code, layer: `oci:${layout}`, layerIndex: 1, digest: manifest.layers[1].digest, diffId: sha(bad) });
    expect(error.message).toMatch(new RegExp(`^oci:${layout} layer 2/2 \\(sha256:`));
  });
});

describe.runIf(nobodyCanRun)('an image that cannot be read: EACCES, exit 1 [needs root: runs the CLI as nobody]', () => {
  it('an unreadable layout directory is EACCES naming the input', async () => {
    const dir = scratch();
    fs.chmodSync(dir, 0o777);
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    fs.chmodSync(layout, 0o700);
    const out = path.join(dir, 'out');
    fs.mkdirSync(out, { mode: 0o777 });
    fs.chmodSync(out, 0o777);
    const r = await execa(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, cli, 'provision', '--json', `oci:${layout}`, path.join(out, 'root')],
      {
        reject: false,
      },
    );
    expect(r.exitCode).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'EACCES', layer: `oci:${layout}`, layerIndex: 0 });
    expect(r.stderr).toMatch(/layer 1 \(oci:.*\): cannot read .*EACCES/);
    expect(fs.readdirSync(out)).toEqual([]);
  });
});

describe('an image given through a symlink', () => {
  it("an oci-archive given through a symlink (Nix's `result`) is read at its target (was ELOOP)", async () => {
    const dir = scratch();
    const layout = ociImage(path.join(dir, 'app'), { layers: [layer()] });
    execFileSync('tar', ['-C', layout, '-cf', path.join(dir, 'app.tar'), '.']);
    fs.symlinkSync('app.tar', path.join(dir, 'result'));
    await provision([`oci-archive:${dir}/result`], path.join(dir, 'root'));
    expect(fs.readFileSync(path.join(dir, 'root/etc/hostname'), 'utf8')).toBe('h');
    expect(fs.lstatSync(path.join(dir, 'result')).isSymbolicLink()).toBe(true);
  });
});
