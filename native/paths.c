#include "paths.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

static int openat2_state = -1;  // -1 unknown, 0 missing, 1 present

static long sys_openat2(int dirfd, const char *path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int lc_have_openat2(void) {
  if (openat2_state < 0) {
    long fd = sys_openat2(AT_FDCWD, ".", O_PATH | O_DIRECTORY);
    if (fd >= 0) close((int)fd);
    openat2_state = !(fd < 0 && errno == ENOSYS);
  }
  return openat2_state;
}

int open_beneath(int root_fd, const char *rel, int flags) {
  if (rel[0] == '\0' || (rel[0] == '.' && rel[1] == '\0')) return openat(root_fd, ".", flags | O_CLOEXEC);
  if (strlen(rel) < PATH_MAX) return (int)sys_openat2(root_fd, rel, flags);
  // The kernel takes at most PATH_MAX bytes a call (ENAMETOOLONG past it),
  // yet trees may be deeper (cp -a copies them). Walk down in pieces of
  // whole components, each resolved beneath the directory fd the previous
  // piece gave with the same rules: every fd held is beneath root_fd, so
  // the path as a whole still is, and no symlink is crossed.
  char piece[PATH_MAX];
  int dir = root_fd;
  const char *p = rel;
  while (strlen(p) >= PATH_MAX) {
    const char *cut = p + PATH_MAX - 1;
    while (cut > p && *cut != '/') cut--;
    if (cut == p) {
      if (dir != root_fd) close(dir);
      errno = ENAMETOOLONG;  // one component over PATH_MAX: no filesystem has it
      return -1;
    }
    memcpy(piece, p, (size_t)(cut - p));
    piece[cut - p] = '\0';
    int next = (int)sys_openat2(dir, piece, O_PATH | O_DIRECTORY);
    int e = errno;
    if (dir != root_fd) close(dir);
    if (next < 0) {
      errno = e;
      return -1;
    }
    dir = next;
    p = cut + 1;
  }
  int fd = (int)sys_openat2(dir, p, flags);
  int e = errno;
  close(dir);
  errno = e;
  return fd;
}

void pc_init(parent_cache *pc, int root_fd, int dir_flags) {
  pc->root_fd = root_fd;
  pc->dir_fd = -1;
  pc->dir_rel = NULL;
  pc->dir_flags = dir_flags;
  pc->new_gid = lc_egid;
  pc->default_acl = -1;
}

int parent_of(parent_cache *pc, const char *rel, const char **name) {
  const char *slash = strrchr(rel, '/');
  size_t plen = slash ? (size_t)(slash - rel) : 0;
  *name = slash ? slash + 1 : rel;
  if (pc->dir_fd >= 0 && strlen(pc->dir_rel) == plen && strncmp(pc->dir_rel, rel, plen) == 0) return pc->dir_fd;
  pc_close(pc);
  pc->dir_rel = strndup(rel, plen);
  if (!pc->dir_rel) {
    errno = ENOMEM;
    return -1;
  }
  pc->dir_fd = open_beneath(pc->root_fd, pc->dir_rel, pc->dir_flags | O_DIRECTORY);
  if (pc->dir_fd < 0) {
    int e = errno;
    pc_close(pc);
    errno = e;
    return -1;
  }
  pc->new_gid = lc_egid;
  pc->default_acl = -1;
  struct stat st;
  if (lc_fstat(pc->dir_fd, &st) == 0 && (st.st_mode & S_ISGID)) pc->new_gid = st.st_gid;
  return pc->dir_fd;
}

int pc_default_acl(parent_cache *pc) {
  if (pc->default_acl < 0) {
    // A default ACL on the parent gives every entry created in it an access
    // ACL (and directories a default ACL) that the layer never had: the
    // inherited-ACL leak of docs/reliability.md. One syscall per directory.
    ssize_t n = fgetxattr(pc->dir_fd, "system.posix_acl_default", NULL, 0);
    pc->default_acl = n > 0;
  }
  return pc->default_acl;
}

void pc_close(parent_cache *pc) {
  if (pc->dir_fd >= 0) close(pc->dir_fd);
  free(pc->dir_rel);
  pc->dir_fd = -1;
  pc->dir_rel = NULL;
}
