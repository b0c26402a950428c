import fs from 'node:fs';
import path from 'node:path';
import { readSmallBlob } from './blobs.js';
import { hexOf, lockPath, removeTree, type Store, tmpName } from './layout.js';
import { StoreLock } from './lock.js';
import { updateRefs } from './refs.js';
import { checkBlob, checkLayer, type Damage, type VerifyResult } from './verify.js';

// verify --repair: each damaged blob and layer removed under its exclusive
// lock, taken without waiting (one a running provision or pull holds is
// left, and said so) and checked again under it, so that the next pull of
// an image that needs it fetches or extracts it again; then each reference
// whose manifest or config is gone is dropped (the next pull resolves it
// at its source). A reference that lacks only layer blobs or layers needs
// no removal: its next pull fetches what is missing.

export type Removed = NonNullable<VerifyResult['removed']>[number];

export async function repairStore(store: Store, damaged: readonly Damage[]): Promise<{ removed: Removed[]; inUse: Damage[] }> {
  const removed: Removed[] = [];
  const inUse: Damage[] = [];
  for (const d of damaged) {
    if (d.kind === 'ref') continue;
    const lock = await StoreLock.acquire(lockPath(store, d.kind, d.id, d.mode), 'ex', { wait: false });
    if (!lock) {
      inUse.push(d);
      continue;
    }
    try {
      // Damaged still: a provision that held it (a 0000 file's chmod, src/store/readers.ts) may have been mid-copy.
      if (d.kind === 'blob') {
        if (!(await checkBlob(d.path, hexOf(d.id)))) continue;
        fs.rmSync(d.path, { force: true });
      } else {
        if (!checkLayer(d.path)) continue;
        // Out of layers/ in one rename, as prune removes one.
        const gone = path.join(store.root, 'tmp', tmpName(`repair-${hexOf(d.id).slice(0, 12)}`));
        fs.renameSync(d.path, gone);
        await removeTree(gone);
      }
      removed.push({ kind: d.kind, id: d.id, path: d.path });
      lock.unlink();
    } finally {
      lock.release();
    }
  }
  const dropped: Removed[] = [];
  await updateRefs(store, (refs) =>
    refs.filter((r) => {
      const manifest = readSmallBlob(store, r.digest);
      const config = manifest && (JSON.parse(manifest.toString('utf8')) as { config?: { digest?: string } }).config?.digest;
      if (manifest && config && readSmallBlob(store, config)) return true;
      dropped.push({ kind: 'ref', id: r.ref, path: path.join(store.root, 'refs.json') });
      return false;
    }),
  );
  return { removed: [...removed, ...dropped], inUse };
}
