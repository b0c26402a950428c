// An image of more layers than the process may hold directories open for
// (each extracted layer's directory is held until the copy): the provision
// fails with EMFILE, and still removes what it made. The open-file limit
// is lowered for the CLI's process alone.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { scratch } from './helpers.js';
import { ociImage, rawTar } from './images/fixtures.js';

const cli = fileURLToPath(new URL('../dist/src/cli.js', import.meta.url));

/** A 300-layer image provisioned by the CLI under a limit of 200 open files: the reference, the rootfs, the exit status and the JSON error. */
async function manyLayers() {
  const dir = scratch();
  const image = `oci:${ociImage(path.join(dir, 'img'), { layers: Array(300).fill(rawTar([{ name: 'a', data: 'a' }])), ref: 't' })}:t`;
  const rootfs = path.join(dir, 'out', 'root');
  fs.mkdirSync(path.dirname(rootfs));
  const r = await execa('bash', ['-c', 'ulimit -n 200 && exec "$@"', 'sh', 'node', cli, 'provision', '--json', image, rootfs], { reject: false, timeout: 60_000 });
  return { image, rootfs, status: r.exitCode, error: JSON.parse(r.stdout).error };
}

it('300 layers under a limit of 200 open files: EMFILE naming the layer, no staging or scratch left beside the rootfs', async () => {
  const { image, rootfs, status, error } = await manyLayers();
  expect(status).toBe(1);
  expect(error).toMatchObject({ code: 'EMFILE' });
  expect(error.message).toMatch(new RegExp(`^extract ${image} layer \\d+/300 `));
  expect(fs.readdirSync(path.dirname(rootfs))).toEqual([]);
}, 70_000);

it('the layer whose directory could not be opened: named by its argument, its path the one in the scratch directory', async () => {
  const { image, rootfs, error } = await manyLayers();
  expect(error).toMatchObject({ code: 'EMFILE', layer: image, layerIndex: 0 });
  expect(error.path).toMatch(new RegExp(`^${path.dirname(rootfs)}/\\.root\\.layercopy-\\d+-[0-9a-f]+/\\d+$`));
  expect(error.message).toContain(` ${error.path} failed: EMFILE`);
}, 70_000);
