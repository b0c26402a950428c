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

it('300 layers under a limit of 200 open files: EMFILE naming the layer, no staging or scratch left beside the rootfs', async () => {
  const dir = scratch();
  const layout = ociImage(path.join(dir, 'img'), { layers: Array(300).fill(rawTar([{ name: 'a', data: 'a' }])), ref: 't' });
  const rootfs = path.join(dir, 'out', 'root');
  fs.mkdirSync(path.dirname(rootfs));
  const r = await execa('bash', ['-c', 'ulimit -n 200 && exec "$@"', 'sh', 'node', cli, 'provision', '--json', `oci:${layout}:t`, rootfs], { reject: false, timeout: 60_000 });
  expect(r.exitCode).toBe(1);
  const { error } = JSON.parse(r.stdout);
  expect(error).toMatchObject({ code: 'EMFILE' });
  expect(error.message).toMatch(new RegExp(`^extract oci:${layout}:t layer \\d+/300 `));
  expect(fs.readdirSync(path.dirname(rootfs))).toEqual([]);
}, 70_000);
