// Copying extended attributes (capabilities, ACLs, user.*, trusted.*).
#ifndef LAYERCOPY_XATTR_H
#define LAYERCOPY_XATTR_H
#include "common.h"

// An xattr endpoint: an open fd (files, directories), or a path for entries
// that cannot be opened for it (symlinks, devices, FIFOs, sockets).
typedef struct {
  int fd;
  const char *path;
} xref;

#define HAS_ACL_ACCESS 1
#define HAS_ACL_DEFAULT 2

// Copies every xattr of src to dst (after chown: chown clears
// security.capability). With strip_acls, POSIX ACLs on dst that src lacks
// are removed first, so an entry ends with exactly the source's ACLs and
// none inherited from a default ACL above it. Returns 0 or -1 with *f set.
int copy_xattrs(xref src, xref dst, int strip_acls, char *list, char *val, failure *f, const char *rel);

// "/proc/self/fd/DIR/NAME": reaches an entry through a directory fd already
// opened beneath its root, for the l*xattr calls, which do not follow the
// entry itself. Returns 0, or -1 when it does not fit.
int fd_path(char *buf, size_t size, int dir, const char *name);

#endif
