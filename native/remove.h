// Removing a tree: rm -rf --one-file-system, never following a symlink,
// iterative (any depth, bounded stack and fds).
#ifndef LAYERCOPY_REMOVE_H
#define LAYERCOPY_REMOVE_H
#include "common.h"

// Removes name (in the directory parent_fd) and everything under it. With
// force_writable, a directory we may not write (0555, as non-root) is made
// writable first, as `rm -rf` run by its owner would need. A directory on
// another filesystem, or a mount point of the same one (a bind mount), is
// never entered, changed or removed: the rest is removed, and the failure
// (code EMOUNTPOINT) names the first such mount, relative to parent_fd, in
// f->owned. Returns 0, or -1 with *f set.
int remove_tree(int parent_fd, const char *name, int force_writable, const int32_t *cancel, failure *f);

#endif
