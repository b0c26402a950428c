// The native helper's copy step on a thread of libuv's pool
// (copyEntriesLater): the same result as copyEntries on this thread, the
// work done by the time its promise settles.
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { packRels } from '../../src/core/paths.js';
import { buildLayer, lstat, scratch } from '../helpers.js';

/** A layer with two names of one file, a plain file and a directory's file; an empty destination with that directory made. */
function setup() {
  const dir = scratch();
  const layer = buildLayer(path.join(dir, 'layer'), { a: 'a', b: { link: 'a' }, c: 'c', 'd/e': 'e' });
  const dst = path.join(dir, 'dst');
  fs.mkdirSync(path.join(dst, 'd'), { recursive: true });
  return { layer, dst };
}

const args = (layer: string, dst: string, rels: string[], defer: boolean, move: boolean) =>
  [layer, dst, '', packRels(rels), 'f'.repeat(rels.length), defer, undefined, undefined, move] as const;

it('moves (move: true) as copyEntries does: each name a link to its source, the same counts', async () => {
  const one = setup();
  const two = setup();
  const rels = ['c', 'd/e'];
  const later = await native.copyEntriesLater(...args(one.layer, one.dst, rels, false, true));
  const here = native.copyEntries(...args(two.layer, two.dst, rels, false, true));
  expect(later).toEqual(here);
  expect(later).toMatchObject({ done: 2, links: [], large: [] });
  for (const rel of rels) expect(lstat(path.join(one.dst, rel)).ino).toBe(lstat(path.join(one.layer, rel)).ino);
});

it('with defer, the names of a hardlink group come back uncopied, with their inode, as from copyEntries', async () => {
  const { layer, dst } = setup();
  const later = await native.copyEntriesLater(...args(layer, dst, ['a', 'b', 'c'], true, false));
  expect(later).toEqual(native.copyEntries(...args(layer, setup().dst, ['a', 'b', 'c'], true, false)));
  const ino = BigInt(lstat(path.join(layer, 'a')).ino);
  expect(later.links.map((l) => [l.rel, l.nlink, l.ino])).toEqual([
    ['a', 2, ino],
    ['b', 2, ino],
  ]);
  expect(fs.readdirSync(dst).sort()).toEqual(['c', 'd']);
});

it('a source that is gone: the failure names it, the entries before it done', async () => {
  const { layer, dst } = setup();
  const r = await native.copyEntriesLater(...args(layer, dst, ['c', 'gone', 'd/e'], false, true));
  expect(r.done).toBe(1);
  expect(r.failure).toMatchObject({ errno: 2, syscall: 'lstat', rel: 'gone' });
  expect(fs.existsSync(path.join(dst, 'd', 'e'))).toBe(false);
});
