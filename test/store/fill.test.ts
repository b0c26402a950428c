// Layers extracted into the store (src/store/fill.ts): a system call's
// failure there is named as the store's, not as a path of the layer alone.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { scratch } from '../helpers.js';
import { ociImage, rawTar } from '../images/fixtures.js';
import { cli } from '../registry/pull-helpers.js';

it('a file that cannot be written while a layer is extracted into the store: the errno, the entry, and the store it was written into; nothing recorded', async () => {
  const dir = scratch();
  // 1 MiB of zeros: a gzip blob of ~1 KiB, past the file size limit only once extracted.
  const layout = ociImage(path.join(dir, 'img'), { layers: [rawTar([{ name: 'etc/big', data: Buffer.alloc(1 << 20), mode: 0o644 }])] });
  const store = path.join(dir, 'store');
  const r = await execa('prlimit', ['--fsize=262144', process.execPath, cli, 'pull', '--json', '--store', store, `oci:${layout}:latest`], { reject: false });
  expect(r.exitCode).toBe(1);
  const error = JSON.parse(r.stdout).error;
  expect(error.code).toBe('EFBIG');
  expect(error.message).toMatch(new RegExp(`/etc/big.*\\(extracting into the store ${store}, under ${store}/tmp/[^)]+\\)$`));
  expect(fs.readdirSync(path.join(store, 'tmp'))).toEqual([]);
  expect(JSON.parse(fs.readFileSync(path.join(store, 'refs.json'), 'utf8')).refs).toEqual([]);
});
