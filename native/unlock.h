// Sources of this user's own that it may not read or enter (a 0000 file, a
// 0000 or 0300 directory: what a rootless extraction of /etc/shadow or a
// locked directory leaves), opened with u+r (files) or u+rx (directories)
// added for the time it takes, as umoci's unpriv helpers do. A source
// another user owns is left as it is: reading it fails with its path.
#ifndef LAYERCOPY_UNLOCK_H
#define LAYERCOPY_UNLOCK_H
#include "common.h"

#include <sys/stat.h>

// openat(dir, name, flags) of a regular file, for a caller whose plain
// open failed with EACCES: where this user owns it, u+r is added first and
// *orig gets its mode, which the caller restores with fchmod once it has
// read the file's data, metadata and xattrs. -1 with errno EACCES where the
// file is another user's (or not a regular file any more).
int unlock_open_file(int dir, const char *name, int flags, mode_t *orig);

// A directory rel beneath root that this user owns and may not list or
// enter: u+rx added for the rest of the provision and its mode remembered
// (by device and inode, under root). 0, or -1 with errno set (EACCES: not
// this user's).
int unlock_dir(int root, const char *rel);
// The mode of an unlocked directory before unlock_dir: 1 and *orig set, or
// 0 where it was never unlocked.
int unlock_lookup(dev_t dev, ino_t ino, mode_t *orig);
// Gives every directory unlocked under root its mode back, deepest first
// (its parents are still open to it). Returns 0, or -1 with *f set at the
// first that failed (the others are still done).
int relock_dirs(int root, failure *f);

#endif
