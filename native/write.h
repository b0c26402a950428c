// Writing entries that come from a tar stream (image layers) beneath a
// root fd, never following a symlink: files, directories, symlinks,
// hardlinks, devices and FIFOs, then their metadata.
#ifndef LAYERCOPY_WRITE_H
#define LAYERCOPY_WRITE_H
#include "common.h"
#include "meta.h"

typedef struct {
  uid_t uid;
  gid_t gid;
  mode_t mode;
  int64_t atime_sec, atime_nsec, mtime_sec, mtime_nsec;
  uint32_t nxattrs;
  char **xattr_names;
  char **xattr_values;
  size_t *xattr_sizes;
  // Set for an entry this extraction just made: what it was made with, so
  // that an owner or mode it already has is not set again (-1: unknown).
  int fresh;
  uid_t have_uid;
  gid_t have_gid;
  mode_t have_mode;
} write_meta;

// A directory (0700 until its metadata), symlink (to target), char or
// block device (rdev), FIFO, or hardlink (to target, a rel beneath the same
// root), by type letter d l c b p h. Returns 0, or -1 with *f set.
int write_make_entry(int root, const char *rel, char type, const char *target, uint64_t rdev, failure *f);
// Owner, xattrs, mode (not on symlinks) and ns times of rel ("" the root),
// an entry of kind (meta_src.kind), by the policy p (native/meta.h).
int write_set_meta(const meta_policy *p, int root, const char *rel, char kind, const write_meta *m, failure *f);
// The same for the entry name in the directory fd at (rel names it in a failure).
int write_set_meta_at(const meta_policy *p, int at, const char *entry, const char *rel, char kind, const write_meta *m, failure *f);
// The same through a regular file's own open fd (written, not yet closed).
int write_set_meta_fd(const meta_policy *p, int fd, const char *rel, const write_meta *m, failure *f);
// The tree an extraction made, counted as the plan counts a layer it
// copies (src/copy/provisioning.ts, Counts): entries (directories, the
// root excluded, and every other name), directories, hardlinks (names of
// an inode beyond its first) and bytes (a regular file's size, once per
// inode).
typedef struct {
  int64_t entries, directories, hardlinks, bytes;
} write_tally;
// An entry of that tree (its lstat) removed.
void write_tally_removed(write_tally *c, const struct stat *st);
// Makes every component of rel a real directory beneath root (0755 for
// new ones); a non-directory in the way is replaced, and *replaced (when
// given) is then the length of rel's prefix it stood at, else 0 (only one
// can be: nothing stands beneath a non-directory). With tally, what it
// makes and removes is counted.
int write_ensure_dirs(int root, const char *rel, write_tally *tally, size_t *replaced, failure *f);

#endif
