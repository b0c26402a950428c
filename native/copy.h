// The copy step, one function per entry kind.
#ifndef LAYERCOPY_COPY_H
#define LAYERCOPY_COPY_H
#include "common.h"
#include "meta.h"
#include "paths.h"

typedef struct {
  parent_cache src, dst;
  int src_base, dst_base;  // the batch's base directory beneath each root, or -1
  char *list, *val, *buf;
  const int32_t *cancel;
  // What entries get of their sources' metadata (native/meta.h); zeroed:
  // keep, devices error, owners exactly as they are. changes counts what it
  // changed in this context's calls.
  meta_policy policy;
  meta_changes changes;
  // Non-directories are hardlinked from the source instead of copied: the
  // source is a private scratch extraction of a tar layer on the same
  // filesystem, already carrying the metadata a copy would give.
  int move;
} copy_ctx;

// Sets up a context over two open root fds (src may be -1 for link-only
// work). With a base, rels are relative to that directory beneath both
// roots: a batch names its common directory once instead of in every path
// (4 KB-deep paths made every task hold megabytes). Returns 0, or -1 with
// *f set.
int copy_ctx_init(copy_ctx *c, int src_root, int dst_root, const char *base, const int32_t *cancel, failure *f);
void copy_ctx_free(copy_ctx *c);

typedef enum {
  COPY_DONE,
  COPY_FAILED,
  // Not copied, handed back: a name of a hardlink group (copied once after
  // the barrier, the others linked to it) ...
  COPY_DEFER_LINKED,
  // ... or a big file in a batch of several (copied as a task of its own).
  COPY_DEFER_LARGE,
} copy_outcome;

// What a deferred entry is: its type letter and, for hardlink groups, the
// source inode.
typedef struct {
  char type;
  uint64_t dev, ino;
  uint64_t size;   // a regular file's size (COPY_DEFER_LARGE, or a linked file)
  uint64_t nlink;  // COPY_DEFER_LINKED: the inode's names (when all were met, its group is done)
} defer_key;

// Files this large are handed back from a batch of several, so that each
// gets a task of its own, longest first, and several big files copy on
// several workers at once. Exported to JS as constants.largeFile; the
// figures behind it: docs/benchmarks.md, "Figures behind the code: Big
// files".
#define LARGE_FILE ((uint64_t)8 * 1024 * 1024)

// type: the planner's letter (f l c b p s); a source of another type now
// fails with ESRCCHANGED. Upper-case (F L C B P S): a non-directory at rel
// in the destination is unlinked first (the layered strategy's
// replacements). Regular files of defer_large bytes or more (0: none) are
// handed back. *bytes gets the data bytes written.
copy_outcome copy_entry(copy_ctx *c, const char *rel, char type, int defer_links, uint64_t defer_large, defer_key *key, int64_t *bytes, failure *f);

// Directory metadata (owner, mode unless keep_mode, xattrs, times), applied
// after everything the layer writes inside the directory. *later: a mode
// to set at the end of the provision (meta_dst.later), or (mode_t)-1.
int dir_meta(copy_ctx *c, const char *rel, int keep_mode, mode_t *later, failure *f);

// linkat(dst/existing, dst/new), both beneath the rootfs.
int link_entry(copy_ctx *c, parent_cache *other, const char *existing, const char *new_rel, failure *f);

#endif
