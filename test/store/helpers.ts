// Shared by the store's tests: a provisioned tree without its root's times
// (the test images' tars have no "./" entry, so the root is made when
// extracted), and what a store holds on disk.
import fs from 'node:fs';
import path from 'node:path';
import { isRoot, snapshot } from '../helpers.js';

/**
 * The owner mode (layers/MODE) of a provision or pull without --owners and --devices: 'keep' as root,
 * 'xattr-devices-empty' as another user (docs/cli.md, "Rootless").
 */
export const MODE = isRoot ? 'keep' : 'xattr-devices-empty';

export function tree(dir: string) {
  const t = snapshot(dir);
  const root = t.get('');
  if (root) t.set('', { ...root, atimeNs: 0n, mtimeNs: 0n } as typeof root);
  return t;
}

/** The store's blobs, extracted layers (of the default mode) and lock files, by name. */
export function held(store: string) {
  const list = (sub: string) => (fs.existsSync(path.join(store, sub)) ? fs.readdirSync(path.join(store, sub)).sort() : []);
  return { blobs: list('blobs/sha256'), layers: list(`layers/${MODE}`), locks: list('locks').filter((n) => n !== 'refs'), tmp: list('tmp') };
}
