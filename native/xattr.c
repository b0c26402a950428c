#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

static int ignorable_set_error(int e) {
  // cp -a drops xattrs the target cannot hold (ENOTSUP) or the caller may
  // not set (EPERM: trusted.* as non-root, user.* on symlinks).
  return e == ENOTSUP || e == EPERM || e == EACCES;
}

static ssize_t x_list(xref r, char *buf) { return r.path ? llistxattr(r.path, buf, XBUF) : flistxattr(r.fd, buf, XBUF); }
static ssize_t x_get(xref r, const char *k, char *v) { return r.path ? lgetxattr(r.path, k, v, XBUF) : fgetxattr(r.fd, k, v, XBUF); }
static int x_set(xref r, const char *k, const char *v, size_t n) { return r.path ? lsetxattr(r.path, k, v, n, 0) : fsetxattr(r.fd, k, v, n, 0); }
static int x_remove(xref r, const char *k) { return r.path ? lremovexattr(r.path, k) : fremovexattr(r.fd, k); }

int fd_path(char *buf, size_t size, int dir, const char *name) {
  int n = snprintf(buf, size, "/proc/self/fd/%d/%s", dir, name);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

int copy_xattrs(xref src, xref dst, int strip_acls, char *list, char *val, failure *f, const char *rel) {
  ssize_t n = x_list(src, list);
  if (n < 0) {
    if (errno != ENOTSUP) {
      fail_errno(f, errno, src.path ? "llistxattr" : "flistxattr", 0, rel);
      return -1;
    }
    n = 0;
  }
  if (strip_acls) {
    int has = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
      if (strcmp(list + i, ACL_ACCESS) == 0) has |= HAS_ACL_ACCESS;
      if (strcmp(list + i, ACL_DEFAULT) == 0) has |= HAS_ACL_DEFAULT;
    }
    static const char *const acls[] = {ACL_ACCESS, ACL_DEFAULT};
    for (int k = 0; k < 2; k++) {
      if (has & (1 << k)) continue;
      if (x_remove(dst, acls[k]) != 0 && errno != ENODATA && errno != ENOTSUP && errno != EPERM && errno != EINVAL) {
        fail_errno(f, errno, dst.path ? "lremovexattr" : "fremovexattr", 1, rel);
        return -1;
      }
    }
  }
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    ssize_t vn = x_get(src, list + i, val);
    if (vn < 0) {
      if (errno == ENODATA || errno == ENOTSUP) continue;
      fail_errno(f, errno, src.path ? "lgetxattr" : "fgetxattr", 0, rel);
      return -1;
    }
    if (x_set(dst, list + i, val, (size_t)vn) != 0 && !ignorable_set_error(errno)) {
      fail_errno(f, errno, dst.path ? "lsetxattr" : "fsetxattr", 1, rel);
      return -1;
    }
  }
  return 0;
}
