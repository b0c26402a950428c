// Copying extended attributes (capabilities, ACLs, user.*, trusted.*).
#ifndef LAYERCOPY_XATTR_H
#define LAYERCOPY_XATTR_H
#include "common.h"
#include "idmap.h"

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

// Copies every xattr of src to dst (after chown: chown clears
// security.capability). Returns 0 or -1 with *f set.
// With an active ID map, IDs stored in values are shifted (map_xattr).
int copy_xattrs(xref src, xref dst, strip_mode strip, const idmap *map, char *list, char *val, failure *f, const char *rel);

// "/proc/self/fd/DIR/NAME": reaches an entry through a directory fd already
// opened beneath its root, for the l*xattr calls, which do not follow the
// entry itself. Returns 0, or -1 when it does not fit.
int fd_path(char *buf, size_t size, int dir, const char *name);

#endif
