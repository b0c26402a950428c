// Removing a tree: rm -rf --one-file-system, never following a symlink,
// iterative (any depth, bounded stack and fds).
#ifndef LAYERCOPY_REMOVE_H
#define LAYERCOPY_REMOVE_H
#include "common.h"

// Removes name (in the directory parent_fd) and everything under it. With
// force_writable, a directory we may not write (0555, as non-root) is made
// writable first, as `rm -rf` run by its owner would need, and one of our
// own we may not even open (0000, as a rootless extraction writes) 0700. A directory on
// another filesystem, or a mount point of the same one (a bind mount), is
// never entered, changed or removed: the rest is removed, and the failure
// (code EMOUNTPOINT) names the first such mount, relative to parent_fd, in
// f->owned. An entry that cannot be opened, listed or removed (EACCES as
// non-root: a directory of another owner) stays too, with the directories
// above it, and the rest is removed all the same (best effort, as rm -rf):
// the failure is the first such errno, its path relative to parent_fd in
// f->rel, and f->more counts the other entries (and mounts) that stayed.
// A cancel, or running out of memory, stops at once. Returns 0, or -1 with
// *f set.
int remove_tree(int parent_fd, const char *name, int force_writable, const int32_t *cancel, failure *f);

#endif
