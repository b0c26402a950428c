// Extended attributes of an entry, through its fd or a path: the calls the
// metadata policy (meta.c) makes, and what is removed before a copy.
#ifndef LAYERCOPY_XATTR_H
#define LAYERCOPY_XATTR_H
#include <sys/types.h>

#include "common.h"

// An xattr endpoint: an open fd (files, directories), or a path for entries
// that cannot be opened for it (symlinks, devices, FIFOs, sockets).
typedef struct {
  int fd;
  const char *path;
} xref;

typedef enum {
  STRIP_NONE,  // a new entry where nothing can have been inherited
  // POSIX ACLs on dst that src lacks are removed first: an entry created
  // under a default ACL ends with exactly the source's ACLs.
  STRIP_ACLS,
  // Every xattr dst has and src lacks is removed: a merged directory's
  // attributes are replaced by the upper layer's (OCI), as the merged plan,
  // which creates it once, gives it.
  STRIP_ALL,
} strip_mode;

// The l*/f* xattr calls on an endpoint (buffers of XBUF bytes).
ssize_t xattr_list(xref r, char *buf);
ssize_t xattr_get(xref r, const char *name, char *val);
int xattr_set(xref r, const char *name, const void *val, size_t len);

// Removes from dst what strip says and the source lacks: src_list holds
// the source's names (n bytes, NUL-separated), buf is scratch (XBUF).
// Returns 0, or -1 with *f set.
int xattr_strip(xref dst, strip_mode strip, const char *src_list, ssize_t n, char *buf, failure *f, const char *rel);
// Removes one xattr; absent or not ours to remove is no failure.
int xattr_remove_one(xref dst, const char *name, failure *f, const char *rel);

// "/proc/self/fd/DIR/NAME": reaches an entry through a directory fd already
// opened beneath its root, for the l*xattr calls, which do not follow the
// entry itself. Returns 0, or -1 when it does not fit.
int fd_path(char *buf, size_t size, int dir, const char *name);

#endif
