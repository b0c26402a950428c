// Test and sample-image helpers, built as a separate addon
// (layercopy_fixtures.node) so the production helper exports only what
// provisioning needs. Node has no xattr, mknod or nanosecond-time API;
// fixtures need them to build layers and to inspect what was copied.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "napi_util.h"

#define XBUF (64 * 1024 + 1)

// lsetxattr(path, name, value: Buffer)
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  char *path = get_utf8(env, argv[0]);
  char *name = path ? get_utf8(env, argv[1]) : NULL;
  void *data = NULL;
  size_t len = 0;
  if (name && NAPI_OK(napi_get_buffer_info(env, argv[2], &data, &len)) && lsetxattr(path, name, data, len, 0) != 0) {
    throw_errno(env, errno, "lsetxattr", path);
  }
  free(path);
  free(name);
  return NULL;
}

// lremovexattr(path, name)
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  char *path = get_utf8(env, argv[0]);
  char *name = path ? get_utf8(env, argv[1]) : NULL;
  if (name && lremovexattr(path, name) != 0) throw_errno(env, errno, "lremovexattr", path);
  free(path);
  free(name);
  return NULL;
}

// lgetxattrs(path) -> { name: Buffer }
static napi_value js_lgetxattrs(napi_env env, napi_callback_info info) {
  napi_value argv[1], obj = NULL;
  if (!get_args(env, info, 1, argv)) return NULL;
  char *path = get_utf8(env, argv[0]);
  char *list = malloc(XBUF), *val = malloc(XBUF);
  if (!path || !list || !val) {
    if (path) throw_errno(env, ENOMEM, "malloc", path);
    goto out;
  }
  ssize_t n = llistxattr(path, list, XBUF);
  if (n < 0 && errno != ENOTSUP) {
    throw_errno(env, errno, "llistxattr", path);
    goto out;
  }
  if (!NAPI_OK(napi_create_object(env, &obj))) goto out;
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    ssize_t vn = lgetxattr(path, list + i, val, XBUF);
    if (vn < 0) {
      obj = throw_errno(env, errno, "lgetxattr", path);
      goto out;
    }
    napi_value b;
    void *copy;
    if (!NAPI_OK(napi_create_buffer_copy(env, (size_t)vn, val, &copy, &b)) || !NAPI_OK(napi_set_named_property(env, obj, list + i, b))) {
      obj = NULL;
      goto out;
    }
  }
out:
  free(list);
  free(val);
  free(path);
  return obj;
}

// lutimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec)
static napi_value js_lutimens(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  int64_t v[4];
  for (int i = 0; i < 4; i++) {
    if (!NAPI_OK(napi_get_value_int64(env, argv[i + 1], &v[i]))) return NULL;
  }
  char *path = get_utf8(env, argv[0]);
  if (!path) return NULL;
  struct timespec ts[2] = {{(time_t)v[0], (long)v[1]}, {(time_t)v[2], (long)v[3]}};
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno(env, errno, "utimensat", path);
  free(path);
  return NULL;
}

// mknod(path, mode (with type bits), major, minor)
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  uint32_t mode, maj, min;
  if (!NAPI_OK(napi_get_value_uint32(env, argv[1], &mode)) || !NAPI_OK(napi_get_value_uint32(env, argv[2], &maj)) ||
      !NAPI_OK(napi_get_value_uint32(env, argv[3], &min))) {
    return NULL;
  }
  char *path = get_utf8(env, argv[0]);
  if (!path) return NULL;
  if (mknod(path, (mode_t)mode, makedev(maj, min)) != 0) throw_errno(env, errno, "mknod", path);
  free(path);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattrs", NULL, js_lgetxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"lremovexattr", NULL, js_lremovexattr, NULL, NULL, NULL, napi_default, NULL},
    {"lutimens", NULL, js_lutimens, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
  };
  if (!NAPI_OK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props))) return NULL;
  return exports;
}
