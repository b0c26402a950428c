// Resolving paths beneath a root without ever following a symlink.
#ifndef LAYERCOPY_PATHS_H
#define LAYERCOPY_PATHS_H
#include "common.h"

// 1 when the kernel has openat2 (Linux >= 5.6). Without it nothing is
// opened: a fallback to O_NOFOLLOW on the last component would silently let
// a symlinked parent redirect writes, so callers refuse to run instead.
int lc_have_openat2(void);

// openat2(root_fd, rel, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS); rel "" or "." is root_fd itself. Sets errno to
// ENOSYS on kernels without openat2.
int open_beneath(int root_fd, const char *rel, int flags);

// The fd of a rel's parent directory, kept open across consecutive entries
// of one directory (batches are planned directory by directory).
typedef struct {
  int root_fd;
  int dir_fd;
  char *dir_rel;
  int dir_flags;    // O_PATH (sources) or O_RDONLY (rootfs: fgetxattr needs a real fd)
  gid_t new_gid;    // group a file created here gets (setgid dirs pass theirs on)
  int default_acl;  // -1 unknown, else whether the dir has a default ACL
} parent_cache;

void pc_init(parent_cache *pc, int root_fd, int dir_flags);
// Returns the parent's fd (or -1 with errno set) and sets *name to rel's
// last component.
int parent_of(parent_cache *pc, const char *rel, const char **name);
// Whether entries created in the cached parent inherit an ACL.
int pc_default_acl(parent_cache *pc);
void pc_close(parent_cache *pc);

#endif
