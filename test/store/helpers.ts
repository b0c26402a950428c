// Shared by the store's tests: a provisioned tree without its root's times
// (the test images' tars have no "./" entry, so the root is made when
// extracted), and what a store holds on disk.
import fs from 'node:fs';
import path from 'node:path';
import { snapshot } from '../helpers.js';

export function tree(dir: string) {
  const t = snapshot(dir);
  const root = t.get('');
  if (root) t.set('', { ...root, atimeNs: 0n, mtimeNs: 0n } as typeof root);
  return t;
}

/** The store's blobs, extracted layers and lock files, by name. */
export function held(store: string) {
  const list = (sub: string) => (fs.existsSync(path.join(store, sub)) ? fs.readdirSync(path.join(store, sub)).sort() : []);
  return { blobs: list('blobs/sha256'), layers: list('layers/keep'), locks: list('locks').filter((n) => n !== 'refs'), tmp: list('tmp') };
}
