// The store's refs.json and index.json (src/store/refs.ts) are replaced
// whole or not at all: a write cut short (here by the file size limit, as
// a nearly full filesystem cuts it) fails the pull naming the store, and
// the files stay as they were.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { scratch } from '../helpers.js';
import { addImage, rawTar, writeIndex } from '../images/fixtures.js';
import { cli } from '../registry/pull-helpers.js';

it('a refs.json or index.json write cut short: the pull fails with the errno, naming the store; both files stay whole and as they were', async () => {
  const dir = scratch();
  const layout = path.join(dir, 'img');
  const image = addImage(layout, { layers: [rawTar([{ name: 'a', data: 'a\n', mode: 0o644 }])] });
  writeIndex(
    layout,
    Array.from({ length: 12 }, (_, i) => ({ ...image, ref: `tag-with-a-fairly-long-name-${i}` })),
  );
  const store = path.join(dir, 'store');
  for (let i = 0; i < 11; i++) {
    const r = await execa('node', [cli, 'pull', '--quiet', '--store', store, `oci:${layout}:tag-with-a-fairly-long-name-${i}`], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
  }
  const before = { refs: fs.readFileSync(path.join(store, 'refs.json'), 'utf8'), index: fs.readFileSync(path.join(store, 'index.json'), 'utf8') };
  // Room for every file as it is, not for either grown by one more reference.
  const limit = Math.max(before.refs.length, before.index.length) + 50;
  const r = await execa('prlimit', [`--fsize=${limit}`, process.execPath, cli, 'pull', '--json', '--store', store, `oci:${layout}:tag-with-a-fairly-long-name-11`], {
    reject: false,
  });
  expect(r.exitCode).toBe(1);
  const error = JSON.parse(r.stdout).error;
  expect(error.code).toBe('EFBIG');
  expect(error.message).toMatch(new RegExp(`store ${store}: (refs|index)\\.json cannot be written \\(EFBIG: .*\\); it is left as it was`));
  expect(fs.readFileSync(path.join(store, 'refs.json'), 'utf8')).toBe(before.refs);
  expect(fs.readFileSync(path.join(store, 'index.json'), 'utf8')).toBe(before.index);
  expect(fs.readdirSync(path.join(store, 'tmp'))).toEqual([]);
});
