#include "xattr.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"

ssize_t xattr_list(xref r, char *buf) { return r.path ? llistxattr(r.path, buf, XBUF) : flistxattr(r.fd, buf, XBUF); }
ssize_t xattr_get(xref r, const char *k, char *v) { return r.path ? lgetxattr(r.path, k, v, XBUF) : fgetxattr(r.fd, k, v, XBUF); }
int xattr_set(xref r, const char *k, const void *v, size_t n) { return r.path ? lsetxattr(r.path, k, v, n, 0) : fsetxattr(r.fd, k, v, n, 0); }
static int x_remove(xref r, const char *k) { return r.path ? lremovexattr(r.path, k) : fremovexattr(r.fd, k); }

int fd_path(char *buf, size_t size, int dir, const char *name) {
  int n = snprintf(buf, size, "/proc/self/fd/%d/%s", dir, name);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int in_list(const char *list, ssize_t n, const char *name) {
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    if (strcmp(list + i, name) == 0) return 1;
  }
  return 0;
}

int xattr_remove_one(xref dst, const char *name, failure *f, const char *rel) {
  if (x_remove(dst, name) == 0) return 0;
  // Absent, unsupported, or not ours to remove (security.* as non-root).
  if (errno == ENODATA || errno == ENOTSUP || errno == EPERM || errno == EACCES || errno == EINVAL) return 0;
  fail_errno(f, errno, dst.path ? "lremovexattr" : "fremovexattr", SIDE_ROOTFS, rel);
  return -1;
}

int xattr_strip(xref dst, strip_mode strip, const char *list, ssize_t n, char *buf, failure *f, const char *rel) {
  if (strip == STRIP_ACLS) {
    static const char *const acls[] = {ACL_ACCESS, ACL_DEFAULT};
    for (int k = 0; k < 2; k++) {
      if (!in_list(list, n, acls[k]) && xattr_remove_one(dst, acls[k], f, rel) != 0) return -1;
    }
  } else if (strip == STRIP_ALL) {
    ssize_t dn = xattr_list(dst, buf);
    for (ssize_t i = 0; i < dn; i += (ssize_t)strlen(buf + i) + 1) {
      if (!in_list(list, n, buf + i) && xattr_remove_one(dst, buf + i, f, rel) != 0) return -1;
    }
  }
  return 0;
}
