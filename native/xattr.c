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

static int in_list(const char *list, ssize_t n, const char *name) {
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    if (strcmp(list + i, name) == 0) return 1;
  }
  return 0;
}

static int remove_one(xref dst, const char *name, failure *f, const char *rel) {
  if (x_remove(dst, name) == 0) return 0;
  // Absent, unsupported, or not ours to remove (security.* as non-root).
  if (errno == ENODATA || errno == ENOTSUP || errno == EPERM || errno == EACCES || errno == EINVAL) return 0;
  fail_errno(f, errno, dst.path ? "lremovexattr" : "fremovexattr", SIDE_ROOTFS, rel);
  return -1;
}

int copy_xattrs(xref src, xref dst, strip_mode strip, const idmap *map, char *list, char *val, failure *f, const char *rel) {
  ssize_t n = x_list(src, list);
  if (n < 0) {
    if (errno != ENOTSUP) {
      fail_errno(f, errno, src.path ? "llistxattr" : "flistxattr", SIDE_LAYER, rel);
      return -1;
    }
    n = 0;
  }
  if (strip == STRIP_ACLS) {
    int has = 0;
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
      if (strcmp(list + i, ACL_ACCESS) == 0) has |= 1;
      if (strcmp(list + i, ACL_DEFAULT) == 0) has |= 2;
    }
    static const char *const acls[] = {ACL_ACCESS, ACL_DEFAULT};
    for (int k = 0; k < 2; k++) {
      if (!(has & (1 << k)) && remove_one(dst, acls[k], f, rel) != 0) return -1;
    }
  } else if (strip == STRIP_ALL) {
    // val doubles as the buffer for dst's list: values are read after this.
    ssize_t dn = x_list(dst, val);
    for (ssize_t i = 0; i < dn; i += (ssize_t)strlen(val + i) + 1) {
      if (!in_list(list, n, val + i) && remove_one(dst, val + i, f, rel) != 0) return -1;
    }
  }
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    ssize_t vn = x_get(src, list + i, val);
    if (vn < 0) {
      if (errno == ENODATA || errno == ENOTSUP) continue;
      fail_errno(f, errno, src.path ? "lgetxattr" : "fgetxattr", SIDE_LAYER, rel);
      return -1;
    }
    size_t len = (size_t)vn;
    // A v2 capability grows by 4 bytes: val has XBUF - 1 >= 64 KiB of room.
    if (map && idmap_active(map) && map_xattr(map, list + i, val, &len, f, rel) != 0) return -1;
    if (x_set(dst, list + i, val, len) != 0 && !ignorable_set_error(errno)) {
      fail_errno(f, errno, dst.path ? "lsetxattr" : "fsetxattr", SIDE_ROOTFS, rel);
      return -1;
    }
  }
  return 0;
}
