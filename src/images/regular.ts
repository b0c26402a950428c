import fs from 'node:fs';

/**
 * Manifests, indexes and configs are small: one past this is refused
 * rather than held in memory (containers/image caps them at 4 MiB), from a
 * registry, a layout or an archive; a layout's index.json may be 16 times it.
 */
export const JSON_LIMIT = 4 << 20;

/**
 * Opens a file an image is read from (a blob, a layout's JSON) and refuses
 * what is not a regular file. O_NONBLOCK: a FIFO planted in a layout held
 * open() until a writer came, on a thread of libuv's pool, and no signal
 * ended the process. O_NOFOLLOW unless `follow` (a layout's blobs are read
 * through links, at their targets, and hashed before they are parsed; its
 * index.json and oci-layout are not).
 */
export function openRegular(file: string, follow = false): number {
  return openChecked(file, follow).fd;
}

/** openRegular, and the file's stat it checked. */
function openChecked(file: string, follow: boolean): { fd: number; st: fs.Stats } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (follow ? 0 : fs.constants.O_NOFOLLOW));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw notRegular(file, st);
    return { fd, st };
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
}

/**
 * A regular file's bytes, at most `limit` of them: a descriptor's size plus
 * one tells a longer file by its length without reading it all.
 */
export function readRegular(file: string, limit: number, follow = true): Buffer {
  let opened: { fd: number; st: fs.Stats };
  try {
    opened = openChecked(file, follow);
  } catch (error) {
    // O_NOFOLLOW's ELOOP: a symlink, said as what it is (a layout's index.json).
    const st = (error as NodeJS.ErrnoException).code === 'ELOOP' && !follow ? fs.lstatSync(file, { throwIfNoEntry: false }) : undefined;
    throw st?.isSymbolicLink() ? notRegular(file, st) : error;
  }
  const { fd, st } = opened;
  try {
    const size = Math.min(st.size, limit);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = fs.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    fs.closeSync(fd);
  }
}

/** Throws unless the path is a regular file (not followed): EFTYPE saying what it is instead, or lstat's own error. */
export function checkRegular(file: string): void {
  const st = fs.lstatSync(file);
  if (!st.isFile()) throw notRegular(file, st);
}

function notRegular(file: string, st: fs.Stats): NodeJS.ErrnoException {
  return Object.assign(new Error(`${file} is ${kindOf(st)}, not a regular file`), { code: 'EFTYPE', path: file, kind: kindOf(st) });
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a file';
}
