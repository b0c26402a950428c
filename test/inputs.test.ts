import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveInputs } from '../src/inputs.js';
import { openStore } from '../src/store/layout.js';
import { buildLayer, scratch } from './helpers.js';

describe('resolveInputs', () => {
  it('resolves relative paths against the working directory', async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const l1 = path.join(dir, 'l1');
      expect(await resolveInputs(['l1', './l1'], 'root')).toMatchObject({
        layers: [
          { path: l1, label: l1, source: { arg: l1, argIndex: 0 } },
          { path: l1, label: l1, source: { arg: l1, argIndex: 1 } },
        ],
        rootfs: path.join(dir, 'root'),
        parent: dir,
        rootfsEmpty: false,
      });
    } finally {
      process.chdir(cwd);
    }
  });

  it.each([
    ['a missing layer', (d: string) => [[path.join(d, 'nope')], path.join(d, 'root')], /layer 1 .*does not exist/],
    ['a layer that is a file but no tar', (d: string) => [[path.join(d, 'file')], path.join(d, 'root')], /layer 1 .*is neither a directory nor a tar layer/],
    ['a dangling layer symlink', (d: string) => [[path.join(d, 'dangling')], path.join(d, 'root')], /layer 1 .*dangling\): is a symbolic link to nope, which does not exist/],
    [
      'a layer symlink to a file that is no tar',
      (d: string) => [[path.join(d, 'l1'), path.join(d, 'tofile')], path.join(d, 'root')],
      /layer 2 \(.*tofile -> .*\/file\): is neither a directory nor a tar layer/,
    ],
    ['ROOTFS inside a layer', (d: string) => [[path.join(d, 'l1')], path.join(d, 'l1/root')], /lies inside layer 1/],
    // Inputs given as ROOTFS are not empty: they were told to be destroyed.
    ['ROOTFS that is a layer', (d: string) => [[path.join(d, 'l2'), path.join(d, 'l1')], path.join(d, 'l1')], /rootfs .*\/l1 is layer 2 \(.*\/l1\): name a new directory/],
    ['ROOTFS that holds a layer', (d: string) => [[path.join(d, 'l1')], d], /rootfs .* holds layer 1 \(.*\/l1\)/],
    ['ROOTFS that holds a tarball given', (d: string) => [[path.join(d, 'l1'), path.join(d, 'tars/l.tar')], path.join(d, 'tars')], /rootfs .*\/tars holds layer 2 /],
    ['ROOTFS that is an OCI layout given', (d: string) => [[`oci:${path.join(d, 'lay')}:t`], path.join(d, 'lay')], /rootfs .*\/lay is layer 1 \(oci:/],
    [
      'ROOTFS that is an OCI layout not given (the arguments swapped)',
      (d: string) => [[path.join(d, 'l1')], path.join(d, 'lay')],
      /rootfs .*\/lay is an OCI image layout, not a rootfs/,
    ],
    ['ROOTFS whose parent is missing', (d: string) => [[path.join(d, 'l1')], path.join(d, 'no/root')], /parent directory .* does not exist/],
    ['ROOTFS whose parent is a file', (d: string) => [[path.join(d, 'l1')], path.join(d, 'file/root')], /parent .*\/file is not a directory/],
    ['ROOTFS = /', (d: string) => [[path.join(d, 'l1')], '/'], /must not be \//],
    [
      'ROOTFS inside a store (no --store given)',
      (d: string) => [[path.join(d, 'l1')], path.join(d, 'store/layers/root')],
      /rootfs .*\/store\/layers\/root lies inside the layercopy store .*\/store; provision it elsewhere/,
    ],
  ])('rejects %s with a message naming it', async (_name, args, message) => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    openStore(path.join(dir, 'store'));
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    fs.symlinkSync('nope', path.join(dir, 'dangling'));
    fs.symlinkSync('file', path.join(dir, 'tofile'));
    buildLayer(path.join(dir, 'l2'), { b: 'b' });
    fs.mkdirSync(path.join(dir, 'tars'));
    fs.writeFileSync(path.join(dir, 'tars/l.tar'), Buffer.alloc(1024));
    fs.mkdirSync(path.join(dir, 'lay/blobs'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'lay/oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    fs.writeFileSync(path.join(dir, 'lay/index.json'), '{"schemaVersion":2,"manifests":[]}');
    const [layers, rootfs] = args(dir) as [string[], string];
    await expect(resolveInputs(layers, rootfs)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) });
  });

  it.runIf(process.getuid?.() === 0)(
    "a layer that is ROOTFS's parent mounted at another path: refused, where the walk would copy the staging directory into itself [needs root: mounts]",
    async () => {
      const dir = scratch();
      const [work, bind] = ['work', 'bind'].map((n) => path.join(dir, n));
      buildLayer(path.join(work, 'sub'), { f: 'x' });
      fs.mkdirSync(bind);
      execFileSync('mount', ['--bind', work, bind]);
      try {
        await expect(resolveInputs([bind], path.join(work, 'root'))).rejects.toMatchObject({
          code: 'ERR_INVALID_ARGUMENT',
          message: `rootfs ${path.join(work, 'root')} lies inside layer 1 (${bind}): the layer is a directory above ROOTFS, mounted at another path`,
        });
      } finally {
        execFileSync('umount', [bind]);
      }
    },
  );

  it.runIf(process.getuid?.() === 0)(
    "a layer holding a mount of ROOTFS's parent: refused, the walk crossing into it would copy the staging directory into itself [needs root: mounts]",
    async () => {
      const dir = scratch();
      const [data, layer] = ['data', 'L'].map((n) => path.join(dir, n));
      fs.mkdirSync(data);
      buildLayer(path.join(layer, 'mnt'), {});
      execFileSync('mount', ['--bind', data, path.join(layer, 'mnt')]);
      try {
        await expect(resolveInputs([layer], path.join(data, 'out'))).rejects.toMatchObject({
          code: 'ERR_INVALID_ARGUMENT',
          message: `rootfs ${path.join(data, 'out')} lies inside layer 1 (${layer}): ${path.join(layer, 'mnt')} is a directory above ROOTFS mounted inside the layer`,
        });
      } finally {
        execFileSync('umount', [path.join(layer, 'mnt')]);
      }
    },
  );

  it('a missing layer names it in the error fields too (layer, 0-based layerIndex, path)', async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const missing = path.join(dir, 'nope');
    await expect(resolveInputs([path.join(dir, 'l1'), missing], path.join(dir, 'root'))).rejects.toMatchObject({
      message: `layer 2 (${missing}): does not exist`,
      layer: missing,
      layerIndex: 1,
      path: missing,
    });
  });

  it("resolves a layer given through symlinks (a store's current -> sha256/...) once, keeping the path given", async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'store/sha256/abc'), { a: 'a' });
    fs.symlinkSync('sha256/abc', path.join(dir, 'store/current'));
    fs.symlinkSync('store', path.join(dir, 'via'));
    const r = await resolveInputs([path.join(dir, 'via/current')], path.join(dir, 'root'));
    expect(r.layers.map((l) => [l.path, l.label])).toEqual([[path.join(dir, 'store/sha256/abc'), path.join(dir, 'via/current')]]);
  });

  it('refuses a ROOTFS that is a dangling symlink', async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    fs.symlinkSync('/nonexistent', path.join(dir, 'root'));
    await expect(resolveInputs([path.join(dir, 'l1')], path.join(dir, 'root'))).rejects.toMatchObject({ code: 'ERR_ALREADY_PROVISIONED' });
  });
});
