import { StoreLock } from './lock.js';

// A user without CAP_DAC_OVERRIDE reads a file of its own that it may not
// read (an image's 0000 /etc/shadow, recorded rootless) by adding u+r for
// the copy and putting the mode back (native/unlock.h). Two such copies of
// one store entry at once would each read the other's temporary mode and
// write it into their rootfs (seen: 4 provisions at once, 3000 0000 files,
// 1 to 3 files of each given 0400). So such an entry is copied by one
// provision at a time: an exclusive lock of its own (locks/read-MODE-HEX),
// taken once every image of the provision is resolved and held until the
// provision is done. Root, and root of a user namespace over its own files,
// read without a chmod and take none.

/** Whether this process reads entries of its own without a chmod. */
export const readsWithoutChmod = () => process.geteuid?.() === 0;

/**
 * Takes every lock of `files` (exclusive), all or none: where one is held
 * by another, releases those taken, waits for that one (holding none of
 * them, so two provisions cannot wait for each other) and tries again.
 */
export async function lockReaders(files: readonly string[], opts: { signal?: AbortSignal; onWait?: (ms: number) => void }): Promise<StoreLock[]> {
  const wanted = [...new Set(files)].sort();
  for (;;) {
    const held: StoreLock[] = [];
    let busy: string | undefined;
    for (const file of wanted) {
      const lock = await StoreLock.acquire(file, 'ex', { wait: false });
      if (!lock) {
        busy = file;
        break;
      }
      held.push(lock);
    }
    if (busy === undefined) return held;
    for (const lock of held) lock.release();
    (await StoreLock.acquire(busy, 'ex', { wait: true, ...opts }))!.release();
  }
}
