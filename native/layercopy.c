// layercopy native helper: the per-entry copy step, run synchronously on
// Piscina worker threads. Node has no API for xattrs, mknod, nanosecond
// utimensat, SEEK_DATA/SEEK_HOLE, renameat2 or openat2, and calling fs
// functions one by one from JS costs a boundary crossing and a stat per
// step; doing a whole batch here keeps each regular file to ~10 syscalls
// (cp -a makes ~15, see docs/benchmarks.md).
//
// Every path below a root is resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS) on the parent directory, then the entry is touched
// relative to that fd with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW: a symlink in the
// rootfs or in a layer can never redirect a write (CVE-2018-15664,
// CVE-2021-29136, CVE-2021-32760 are all variants of that).
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define XBUF (64 * 1024 + 1)
// Files this large are not copied inside a batch but handed back, so that
// each gets a task of its own and several big files copy on several
// workers at once (a batch runs on one thread). 8 MiB copies in ~3 ms on
// tmpfs: the extra open/fstat/close is noise next to that.
#define LARGE_FILE (8 * 1024 * 1024)
#define COPY_BUF (1024 * 1024)

typedef struct {
  int err;              // errno, or 0 with a custom code
  const char *code;     // custom code when err == 0
  const char *syscall;
  int side;             // 0 source (layer), 1 rootfs
  const char *rel;
} failure;

typedef struct {
  int root_fd;
  int dir_fd;
  char *dir_rel;        // rel path of the parent whose fd is cached
  gid_t new_gid;        // group a file created in dir_fd gets (setgid dirs pass theirs on)
} parent_cache;

static uid_t my_euid;
static gid_t my_egid;
static mode_t my_umask;

// The umask without changing it (umask(2) would race with other threads
// creating files): Linux >= 4.7 shows it in /proc/self/status.
static mode_t read_umask(void) {
  FILE *f = fopen("/proc/self/status", "re");
  unsigned int mask = 022;
  char line[256];
  if (!f) return 022;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "Umask: %o", &mask) == 1) break;
  }
  fclose(f);
  return (mode_t)mask;
}

static int have_openat2 = 1;

static int open_beneath(int root_fd, const char *rel, int flags) {
  if (rel[0] == '\0' || (rel[0] == '.' && rel[1] == '\0'))
    return openat(root_fd, ".", flags | O_CLOEXEC);
  if (have_openat2) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof how);
    if (fd >= 0 || errno != ENOSYS) return (int)fd;
    have_openat2 = 0;
  }
  // Kernels before 5.6: the walk only descends real directories, so
  // O_NOFOLLOW on the last component is the remaining guard.
  return openat(root_fd, rel, flags | O_CLOEXEC | O_NOFOLLOW);
}

// Returns the fd of rel's parent (cached across consecutive entries of one
// directory) and sets *name to rel's last component.
static int parent_of(parent_cache *pc, const char *rel, const char **name) {
  const char *slash = strrchr(rel, '/');
  size_t plen = slash ? (size_t)(slash - rel) : 0;
  *name = slash ? slash + 1 : rel;
  if (pc->dir_fd >= 0 && strlen(pc->dir_rel) == plen && strncmp(pc->dir_rel, rel, plen) == 0)
    return pc->dir_fd;
  if (pc->dir_fd >= 0) close(pc->dir_fd);
  free(pc->dir_rel);
  pc->dir_rel = strndup(rel, plen);
  pc->dir_fd = open_beneath(pc->root_fd, pc->dir_rel, O_PATH | O_DIRECTORY);
  pc->new_gid = my_egid;
  struct stat st;
  if (pc->dir_fd >= 0 && fstat(pc->dir_fd, &st) == 0 && (st.st_mode & S_ISGID)) pc->new_gid = st.st_gid;
  return pc->dir_fd;
}

static void pc_close(parent_cache *pc) {
  if (pc->dir_fd >= 0) close(pc->dir_fd);
  free(pc->dir_rel);
  pc->dir_fd = -1;
  pc->dir_rel = NULL;
}

#define FAIL(f, e, sc, sd, r) do { (f)->err = (e); (f)->code = NULL; (f)->syscall = (sc); (f)->side = (sd); (f)->rel = (r); } while (0)

static int ignorable_xattr_error(int e) {
  // cp -a drops xattrs the target cannot hold (ENOTSUP) or the caller may
  // not set (EPERM: trusted.* as non-root, user.* on symlinks).
  return e == ENOTSUP || e == EPERM || e == EACCES;
}

// An xattr endpoint: an open fd (files, directories), or a path for entries
// that cannot be opened for it (symlinks, devices, FIFOs, sockets).
typedef struct {
  int fd;
  const char *path;
} xref;

static ssize_t x_list(xref r, char *buf) { return r.path ? llistxattr(r.path, buf, XBUF) : flistxattr(r.fd, buf, XBUF); }
static ssize_t x_get(xref r, const char *k, char *v) { return r.path ? lgetxattr(r.path, k, v, XBUF) : fgetxattr(r.fd, k, v, XBUF); }
static int x_set(xref r, const char *k, const char *v, size_t n) { return r.path ? lsetxattr(r.path, k, v, n, 0) : fsetxattr(r.fd, k, v, n, 0); }

// Copies xattrs after chown: chown clears security.capability.
static int copy_xattrs(xref src, xref dst, char *list, char *val, failure *f, const char *rel) {
  ssize_t n = x_list(src, list);
  if (n < 0) {
    if (errno == ENOTSUP) return 0;
    FAIL(f, errno, src.path ? "llistxattr" : "flistxattr", 0, rel);
    return -1;
  }
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    ssize_t vn = x_get(src, list + i, val);
    if (vn < 0) {
      if (errno == ENODATA || errno == ENOTSUP) continue;
      FAIL(f, errno, src.path ? "lgetxattr" : "fgetxattr", 0, rel);
      return -1;
    }
    if (x_set(dst, list + i, val, (size_t)vn) != 0 && !ignorable_xattr_error(errno)) {
      FAIL(f, errno, dst.path ? "lsetxattr" : "fsetxattr", 1, rel);
      return -1;
    }
  }
  return 0;
}

static int copy_xattrs_fd(int sfd, int dfd, char *list, char *val, failure *f, const char *rel) {
  return copy_xattrs((xref){sfd, NULL}, (xref){dfd, NULL}, list, val, f, rel);
}

// By name in two directories: /proc/self/fd/N/NAME reaches the entry through
// the directory fds already opened beneath their roots, without following
// the entry itself (l*xattr).
static int copy_xattrs_path(int sdir, int ddir, const char *name, char *list, char *val, failure *f, const char *rel) {
  char sp[64 + 256], dp[64 + 256];
  snprintf(sp, sizeof sp, "/proc/self/fd/%d/%s", sdir, name);
  snprintf(dp, sizeof dp, "/proc/self/fd/%d/%s", ddir, name);
  return copy_xattrs((xref){-1, sp}, (xref){-1, dp}, list, val, f, rel);
}

// Owner then mode (chown clears setuid/setgid). As non-root do what cp -a
// does: keep the group if we may, ignore EPERM, and drop setuid/setgid when
// ownership could not be kept.
static mode_t chown_at(int dir, const char *name, int fd, const struct stat *st, failure *f, const char *rel) {
  mode_t mode = st->st_mode & 07777;
  int r = fd >= 0 ? fchown(fd, st->st_uid, st->st_gid)
                  : fchownat(dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW);
  if (r == 0) return mode;
  if (errno != EPERM) {
    FAIL(f, errno, fd >= 0 ? "fchown" : "fchownat", 1, rel);
    return (mode_t)-1;
  }
  if (fd >= 0) (void)fchown(fd, (uid_t)-1, st->st_gid);
  else (void)fchownat(dir, name, (uid_t)-1, st->st_gid, AT_SYMLINK_NOFOLLOW);
  return mode & ~(mode_t)(S_ISUID | S_ISGID);
}

static int copy_data(int sfd, int dfd, const struct stat *st, char **buf, failure *f, const char *rel) {
  off_t size = st->st_size;
  if (size == 0) return 0;
  // Holes: st_blocks counts 512-byte units; fewer than the size needs means
  // the file is sparse, so copy only its data extents and leave the rest as
  // holes (copy_file_range alone would fill them in on some filesystems).
  int sparse = (off_t)st->st_blocks * 512 < size;
  off_t pos = 0;
  int use_cfr = 1;
  while (pos < size) {
    off_t end = size;
    if (sparse) {
      off_t data = lseek(sfd, pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // rest is a hole
        sparse = 0;
        data = pos;
      }
      if (sparse) {
        off_t hole = lseek(sfd, data, SEEK_HOLE);
        if (hole < 0) hole = size;
        pos = data;
        end = hole < size ? hole : size;
      }
    }
    while (pos < end) {
      if (use_cfr) {
        loff_t in = pos, out = pos;
        ssize_t n = copy_file_range(sfd, &in, dfd, &out, (size_t)(end - pos), 0);
        if (n > 0) { pos += n; continue; }
        if (n == 0) {
          f->err = 0; f->code = "ESRCCHANGED"; f->syscall = "copy_file_range"; f->side = 0; f->rel = rel;
          return -1;
        }
        if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP || errno == EPERM) {
          use_cfr = 0;
        } else {
          FAIL(f, errno, "copy_file_range", errno == ENOSPC || errno == EDQUOT || errno == EFBIG ? 1 : 0, rel);
          return -1;
        }
      }
      if (!*buf && !(*buf = malloc(COPY_BUF))) { FAIL(f, ENOMEM, "malloc", 1, rel); return -1; }
      size_t want = (size_t)(end - pos) < COPY_BUF ? (size_t)(end - pos) : COPY_BUF;
      ssize_t n = pread(sfd, *buf, want, pos);
      if (n < 0) { FAIL(f, errno, "read", 0, rel); return -1; }
      if (n == 0) {
        f->err = 0; f->code = "ESRCCHANGED"; f->syscall = "read"; f->side = 0; f->rel = rel;
        return -1;
      }
      for (ssize_t w = 0; w < n;) {
        ssize_t m = pwrite(dfd, *buf + w, (size_t)(n - w), pos + w);
        if (m < 0) { FAIL(f, errno, "write", 1, rel); return -1; }
        w += m;
      }
      pos += n;
    }
  }
  if (sparse && ftruncate(dfd, size) != 0) { FAIL(f, errno, "ftruncate", 1, rel); return -1; }
  return 0;
}

typedef struct {
  parent_cache src, dst;
  char *list, *val, *buf;
} ctx_t;

static int open_src_file(ctx_t *c, const char *rel, const char **name, failure *f) {
  int sdir = parent_of(&c->src, rel, name);
  if (sdir < 0) { FAIL(f, errno, "openat2", 0, rel); return -1; }
  int sfd = openat(sdir, *name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (sfd < 0 && errno == EPERM) sfd = openat(sdir, *name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (sfd < 0) { FAIL(f, errno == ELOOP ? 0 : errno, "open", 0, rel); if (errno == ELOOP) f->code = "ESRCCHANGED"; return -1; }
  return sfd;
}

// Regular file: open src, fstat, create dst O_EXCL, data, owner, mode,
// xattrs, times, close. Returns bytes copied, or -1.
static int64_t copy_file(ctx_t *c, const char *rel, int defer_links, int defer_large, uint64_t key[2], failure *f) {
  const char *name;
  int sfd = open_src_file(c, rel, &name, f);
  if (sfd < 0) return -1;
  struct stat st;
  if (fstat(sfd, &st) != 0) { FAIL(f, errno, "fstat", 0, rel); close(sfd); return -1; }
  if (!S_ISREG(st.st_mode)) {
    f->err = 0; f->code = "ESRCCHANGED"; f->syscall = "fstat"; f->side = 0; f->rel = rel;
    close(sfd); return -1;
  }
  if (defer_links && st.st_nlink > 1) {
    key[0] = (uint64_t)st.st_dev; key[1] = (uint64_t)st.st_ino;
    close(sfd);
    return -2;
  }
  if (defer_large && st.st_size >= LARGE_FILE) {
    close(sfd);
    return -3;
  }
  int ddir = parent_of(&c->dst, rel, &name);
  if (ddir < 0) { FAIL(f, errno, "openat2", 1, rel); close(sfd); return -1; }
  mode_t want = st.st_mode & 07777;
  int dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, want & 0777);
  if (dfd < 0) { FAIL(f, errno, "open", 1, rel); close(sfd); return -1; }
  int64_t result = -1;
  if (copy_data(sfd, dfd, &st, &c->buf, f, rel) != 0) goto out;
  // Most files of an image are root's, 0644 or 0755: created with that
  // mode, the new file already has the right owner and mode, so the chown
  // and chmod (two of the ~10 syscalls a file costs) are skipped.
  mode_t mode = want;
  if (!(st.st_uid == my_euid && st.st_gid == c->dst.new_gid)) {
    mode = chown_at(-1, NULL, dfd, &st, f, rel);
    if (mode == (mode_t)-1) goto out;
  }
  if (mode != (want & 0777 & ~my_umask) && fchmod(dfd, mode) != 0) { FAIL(f, errno, "fchmod", 1, rel); goto out; }
  if (copy_xattrs_fd(sfd, dfd, c->list, c->val, f, rel) != 0) goto out;
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (futimens(dfd, ts) != 0) { FAIL(f, errno, "futimens", 1, rel); goto out; }
  result = st.st_size;
out:
  close(sfd);
  if (close(dfd) != 0 && result >= 0) { FAIL(f, errno, "close", 1, rel); result = -1; }
  return result;
}

static int copy_special(ctx_t *c, const char *rel, char type, failure *f) {
  const char *name;
  int sdir = parent_of(&c->src, rel, &name);
  if (sdir < 0) { FAIL(f, errno, "openat2", 0, rel); return -1; }
  struct stat st;
  if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) { FAIL(f, errno, "lstat", 0, rel); return -1; }
  int ok = (type == 'l' && S_ISLNK(st.st_mode)) || (type == 'c' && S_ISCHR(st.st_mode)) ||
           (type == 'b' && S_ISBLK(st.st_mode)) || (type == 'p' && S_ISFIFO(st.st_mode)) ||
           (type == 's' && S_ISSOCK(st.st_mode));
  if (!ok) { f->err = 0; f->code = "ESRCCHANGED"; f->syscall = "lstat"; f->side = 0; f->rel = rel; return -1; }
  char target[PATH_MAX + 1];
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlinkat(sdir, name, target, PATH_MAX);
    if (n < 0) { FAIL(f, errno, "readlink", 0, rel); return -1; }
    target[n] = '\0';
  }
  const char *dname;
  int ddir = parent_of(&c->dst, rel, &dname);
  if (ddir < 0) { FAIL(f, errno, "openat2", 1, rel); return -1; }
  if (S_ISLNK(st.st_mode)) {
    if (symlinkat(target, ddir, dname) != 0) { FAIL(f, errno, "symlink", 1, rel); return -1; }
  } else if (mknodat(ddir, dname, (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
    FAIL(f, errno, "mknod", 1, rel);
    return -1;
  }
  mode_t mode = chown_at(ddir, dname, -1, &st, f, rel);
  if (mode == (mode_t)-1) return -1;
  if (!S_ISLNK(st.st_mode) && fchmodat(ddir, dname, mode, 0) != 0) { FAIL(f, errno, "chmod", 1, rel); return -1; }
  if (copy_xattrs_path(sdir, ddir, dname, c->list, c->val, f, rel) != 0) return -1;
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (utimensat(ddir, dname, ts, AT_SYMLINK_NOFOLLOW) != 0) { FAIL(f, errno, "utimensat", 1, rel); return -1; }
  return 0;
}

// Directory metadata, applied after everything the layer writes inside it.
static int dir_meta(ctx_t *c, const char *rel, int keep_mode, failure *f) {
  int sfd = open_beneath(c->src.root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NOATIME);
  if (sfd < 0 && errno == EPERM) sfd = open_beneath(c->src.root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (sfd < 0) { FAIL(f, errno, "open", 0, rel); return -1; }
  int dfd = open_beneath(c->dst.root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (dfd < 0) { FAIL(f, errno, "open", 1, rel); close(sfd); return -1; }
  int rc = -1;
  struct stat st;
  if (fstat(sfd, &st) != 0) { FAIL(f, errno, "fstat", 0, rel); goto out; }
  mode_t mode = chown_at(-1, NULL, dfd, &st, f, rel);
  if (mode == (mode_t)-1) goto out;
  if (!keep_mode && fchmod(dfd, mode) != 0) { FAIL(f, errno, "fchmod", 1, rel); goto out; }
  if (copy_xattrs_fd(sfd, dfd, c->list, c->val, f, rel) != 0) goto out;
  struct timespec ts[2] = {st.st_atim, st.st_mtim};
  if (futimens(dfd, ts) != 0) { FAIL(f, errno, "futimens", 1, rel); goto out; }
  rc = 0;
out:
  close(sfd);
  close(dfd);
  return rc;
}

// ---- N-API glue -----------------------------------------------------------

#define ARGS(n)        \
  size_t argc = (n);   \
  napi_value argv[(n)]; \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

// Names may hold any byte but '/' and NUL. JS strings carry them as
// latin1-mapped code units (Buffer 'latin1' round-trip, see src/paths.ts),
// so paths cross the boundary byte for byte.
static char *get_bytes(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_latin1(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  napi_get_value_string_latin1(env, v, s, len + 1, &len);
  return s;
}

static napi_value make_str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_latin1(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value make_num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

static void set(napi_env env, napi_value obj, const char *k, napi_value v) {
  napi_set_named_property(env, obj, k, v);
}

static napi_value failure_value(napi_env env, const failure *f) {
  napi_value o;
  napi_create_object(env, &o);
  set(env, o, "errno", make_num(env, f->err));
  if (f->code) set(env, o, "code", make_str(env, f->code));
  set(env, o, "syscall", make_str(env, f->syscall));
  set(env, o, "side", make_str(env, f->side ? "rootfs" : "layer"));
  set(env, o, "rel", make_str(env, f->rel));
  return o;
}

static int ctx_open(ctx_t *c, const char *src_root, const char *dst_root, failure *f) {
  memset(c, 0, sizeof *c);
  c->src.dir_fd = c->dst.dir_fd = -1;
  c->src.root_fd = c->dst.root_fd = -1;
  c->list = malloc(XBUF);
  c->val = malloc(XBUF);
  if (src_root) {
    c->src.root_fd = open(src_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->src.root_fd < 0) { FAIL(f, errno, "open", 0, "."); return -1; }
  }
  c->dst.root_fd = open(dst_root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (c->dst.root_fd < 0) { FAIL(f, errno, "open", 1, "."); return -1; }
  return 0;
}

static void ctx_close(ctx_t *c) {
  pc_close(&c->src);
  pc_close(&c->dst);
  if (c->src.root_fd >= 0) close(c->src.root_fd);
  if (c->dst.root_fd >= 0) close(c->dst.root_fd);
  free(c->list); free(c->val); free(c->buf);
}

// copyEntries(srcRoot, dstRoot, rels[], types, defer)
//   -> { done, bytes, deferred: [rel, key, ...], failure? }
// With defer, regular files with more than one link come back with key
// "dev:ino" and, in batches of several entries, files of LARGE_FILE bytes or
// more with key "large"; neither is copied.
static napi_value copy_entries(napi_env env, napi_callback_info info) {
  ARGS(5);
  char *src_root = get_string(env, argv[0]);
  char *dst_root = get_string(env, argv[1]);
  char *types = get_bytes(env, argv[3]);
  bool defer = false;
  napi_get_value_bool(env, argv[4], &defer);
  uint32_t n = 0;
  napi_get_array_length(env, argv[2], &n);

  napi_value result, deferred;
  napi_create_object(env, &result);
  napi_create_array(env, &deferred);
  failure f = {0};
  int failed = 0;
  uint32_t done = 0, ndef = 0;
  double bytes = 0;
  ctx_t c;
  char **rels = calloc(n ? n : 1, sizeof *rels);
  if (ctx_open(&c, src_root, dst_root, &f) != 0) failed = 1;
  for (uint32_t i = 0; i < n && !failed; i++) {
    napi_value el;
    napi_get_element(env, argv[2], i, &el);
    rels[i] = get_bytes(env, el);
    const char *rel = rels[i];
    char type = types[i];
    if (type == 'f') {
      uint64_t key[2] = {0, 0};
      int64_t r = copy_file(&c, rel, defer, defer && n > 1, key, &f);
      if (r == -1) { failed = 1; break; }
      if (r == -2 || r == -3) {
        char k[48];
        if (r == -2) snprintf(k, sizeof k, "%llu:%llu", (unsigned long long)key[0], (unsigned long long)key[1]);
        else snprintf(k, sizeof k, "large");
        napi_set_element(env, deferred, ndef++, el);
        napi_set_element(env, deferred, ndef++, make_str(env, k));
        continue;
      }
      bytes += (double)r;
    } else if (copy_special(&c, rel, type, &f) != 0) {
      failed = 1;
      break;
    }
    done++;
  }
  set(env, result, "done", make_num(env, done));
  set(env, result, "bytes", make_num(env, bytes));
  set(env, result, "deferred", deferred);
  if (failed) set(env, result, "failure", failure_value(env, &f));
  ctx_close(&c);
  for (uint32_t i = 0; i < n; i++) free(rels[i]);
  free(rels); free(src_root); free(dst_root); free(types);
  return result;
}

// dirMeta(srcRoot, dstRoot, rels[], keepModeOfRoot) -> { done, failure? }
static napi_value dir_meta_entries(napi_env env, napi_callback_info info) {
  ARGS(4);
  char *src_root = get_string(env, argv[0]);
  char *dst_root = get_string(env, argv[1]);
  bool keep_root = false;
  napi_get_value_bool(env, argv[3], &keep_root);
  uint32_t n = 0, done = 0;
  napi_get_array_length(env, argv[2], &n);
  napi_value result;
  napi_create_object(env, &result);
  failure f = {0};
  int failed = 0;
  ctx_t c;
  char *rel = NULL;
  if (ctx_open(&c, src_root, dst_root, &f) != 0) failed = 1;
  for (uint32_t i = 0; i < n && !failed; i++) {
    napi_value el;
    napi_get_element(env, argv[2], i, &el);
    free(rel);
    rel = get_bytes(env, el);
    int is_root = rel[0] == '\0' || strcmp(rel, ".") == 0;
    if (dir_meta(&c, rel, keep_root && is_root, &f) != 0) {
      f.rel = NULL;
      failed = 1;
      break;
    }
    done++;
  }
  set(env, result, "done", make_num(env, done));
  if (failed) {
    napi_value fv = failure_value(env, &f);
    if (rel) set(env, fv, "rel", make_str(env, rel));
    set(env, result, "failure", fv);
  }
  ctx_close(&c);
  free(rel); free(src_root); free(dst_root);
  return result;
}

// linkEntries(dstRoot, [existing, new, ...]) -> { done, failure? }
static napi_value link_entries(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *dst_root = get_string(env, argv[0]);
  uint32_t n = 0, done = 0;
  napi_get_array_length(env, argv[1], &n);
  napi_value result;
  napi_create_object(env, &result);
  failure f = {0};
  int failed = 0;
  ctx_t c;
  parent_cache other = {-1, -1, NULL, 0};
  char *a = NULL, *b = NULL;
  if (ctx_open(&c, NULL, dst_root, &f) != 0) failed = 1;
  other.root_fd = c.dst.root_fd;
  for (uint32_t i = 0; i + 1 < n && !failed; i += 2) {
    napi_value ea, eb;
    napi_get_element(env, argv[1], i, &ea);
    napi_get_element(env, argv[1], i + 1, &eb);
    free(a); free(b);
    a = get_bytes(env, ea);
    b = get_bytes(env, eb);
    const char *an, *bn;
    int ad = parent_of(&other, a, &an);
    int bd = ad < 0 ? -1 : parent_of(&c.dst, b, &bn);
    if (ad < 0 || bd < 0) { FAIL(&f, errno, "openat2", 1, NULL); failed = 1; break; }
    if (linkat(ad, an, bd, bn, 0) != 0) { FAIL(&f, errno, "link", 1, NULL); failed = 1; break; }
    done++;
  }
  set(env, result, "done", make_num(env, done));
  if (failed) {
    napi_value fv = failure_value(env, &f);
    if (b) set(env, fv, "rel", make_str(env, b));
    set(env, result, "failure", fv);
  }
  pc_close(&other);
  ctx_close(&c);
  free(a); free(b); free(dst_root);
  return result;
}

// renameNoReplace(from, to) -> errno (0 on success). The commit step must
// not replace a ROOTFS that appeared meanwhile, even an empty directory,
// which plain rename(2) would do.
static napi_value rename_noreplace(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *from = get_string(env, argv[0]);
  char *to = get_string(env, argv[1]);
  int r = renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
  int e = r == 0 ? 0 : errno;
  free(from); free(to);
  return make_num(env, e);
}

static napi_value is_root(napi_env env, napi_callback_info info) {
  napi_value v;
  napi_get_boolean(env, geteuid() == 0, &v);
  return v;
}


// ---- directory listing and removal ----------------------------------------

#include <dirent.h>

static char dtype_char(unsigned char t, mode_t m) {
  if (t == DT_UNKNOWN) {
    if (S_ISREG(m)) return 'f';
    if (S_ISDIR(m)) return 'd';
    if (S_ISLNK(m)) return 'l';
    if (S_ISCHR(m)) return 'c';
    if (S_ISBLK(m)) return 'b';
    if (S_ISFIFO(m)) return 'p';
    if (S_ISSOCK(m)) return 's';
    return '?';
  }
  switch (t) {
    case DT_REG: return 'f';
    case DT_DIR: return 'd';
    case DT_LNK: return 'l';
    case DT_CHR: return 'c';
    case DT_BLK: return 'b';
    case DT_FIFO: return 'p';
    case DT_SOCK: return 's';
    default: return '?';
  }
}

// Removes rel (below dirfd) and everything under it without following any
// symlink. With force_writable, a directory we may not write (0555, as
// non-root) is made writable first, as `rm -rf` run by its owner would need.
static int remove_at(int parent, const char *name, int force_writable, failure *f) {
  if (unlinkat(parent, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) { FAIL(f, errno, "unlink", 1, NULL); return -1; }
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR || errno == ELOOP) { FAIL(f, EPERM, "unlink", 1, NULL); return -1; }
    FAIL(f, errno, "open", 1, NULL);
    return -1;
  }
  if (force_writable) {
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 0700) != 0700) (void)fchmod(fd, (st.st_mode & 07777) | 0700);
  }
  DIR *d = fdopendir(fd);
  if (!d) { FAIL(f, errno, "fdopendir", 1, NULL); close(fd); return -1; }
  struct dirent *e;
  int rc = 0;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (!e) { if (errno) { FAIL(f, errno, "readdir", 1, NULL); rc = -1; } break; }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (remove_at(dirfd(d), e->d_name, force_writable, f) != 0) { rc = -1; break; }
  }
  closedir(d);
  if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
    FAIL(f, errno, "rmdir", 1, NULL);
    rc = -1;
  }
  return rc;
}

// listDir(root, rel) -> { names: string[], types: string } | { failure }
static napi_value list_dir(napi_env env, napi_callback_info info) {
  ARGS(2);
  char *root = get_string(env, argv[0]);
  char *rel = get_bytes(env, argv[1]);
  napi_value result, names;
  napi_create_object(env, &result);
  failure f = {0};
  int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  int fd = rfd < 0 ? -1 : open_beneath(rfd, rel, O_RDONLY | O_DIRECTORY | O_NOATIME);
  if (fd < 0 && errno == EPERM && rfd >= 0) fd = open_beneath(rfd, rel, O_RDONLY | O_DIRECTORY);
  if (fd < 0) {
    FAIL(&f, errno, "opendir", 0, rel);
    set(env, result, "failure", failure_value(env, &f));
    if (rfd >= 0) close(rfd);
    free(root); free(rel);
    return result;
  }
  DIR *d = fdopendir(fd);
  size_t cap = 256, len = 0;
  char *types = malloc(cap);
  uint32_t i = 0;
  napi_create_array(env, &names);
  struct dirent *e;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (!e) { if (errno) FAIL(&f, errno, "readdir", 0, rel); break; }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    mode_t m = 0;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) { FAIL(&f, errno, "lstat", 0, rel); break; }
      m = st.st_mode;
    }
    if (len + 1 >= cap) types = realloc(types, cap *= 2);
    types[len++] = dtype_char(e->d_type, m);
    napi_set_element(env, names, i++, make_str(env, e->d_name));
  }
  types[len] = '\0';
  closedir(d);
  close(rfd);
  if (f.syscall) {
    set(env, result, "failure", failure_value(env, &f));
  } else {
    set(env, result, "names", names);
    set(env, result, "types", make_str(env, types));
  }
  free(types); free(root); free(rel);
  return result;
}



typedef enum { OP_REMOVE, OP_MKDIR } entry_op;

// One entry below root, reached through its parent opened beneath root (no
// symlink on the way is followed; only rel must fit in PATH_MAX).
//   removeEntry(root, rel, forceWritable) -> failure | null: rm -rf, never following links
//   makeDir(root, rel) -> failure | null: mkdirat, mode 0700 until its metadata is set
static napi_value at_entry(napi_env env, napi_callback_info info, entry_op op) {
  ARGS(3);
  char *root = get_string(env, argv[0]);
  char *rel = get_bytes(env, argv[1]);
  bool force = false;
  if (op == OP_REMOVE) napi_get_value_bool(env, argv[2], &force);
  failure f = {0};
  int failed = 0;
  parent_cache pc = {-1, -1, NULL, 0};
  pc.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  const char *name;
  int dir = pc.root_fd < 0 ? -1 : parent_of(&pc, rel, &name);
  if (dir < 0) {
    // Removing what is not there is done; anything else is a failure.
    if (!(op == OP_REMOVE && errno == ENOENT)) { FAIL(&f, errno, "openat2", 1, rel); failed = 1; }
  } else if (op == OP_REMOVE) {
    if (remove_at(dir, name, force, &f) != 0) { f.rel = rel; failed = 1; }
  } else if (mkdirat(dir, name, 0700) != 0) {
    FAIL(&f, errno, "mkdir", 1, rel);
    failed = 1;
  }
  napi_value result;
  if (failed) result = failure_value(env, &f);
  else napi_get_null(env, &result);
  pc_close(&pc);
  if (pc.root_fd >= 0) close(pc.root_fd);
  free(root); free(rel);
  return result;
}

static napi_value remove_entry(napi_env env, napi_callback_info info) { return at_entry(env, info, OP_REMOVE); }
static napi_value make_dir(napi_env env, napi_callback_info info) { return at_entry(env, info, OP_MKDIR); }

// ---- helpers for fixtures, the sample image and tests ---------------------
// Node has no xattr, mknod or nanosecond-time API; tests and the sample
// generator need them to build layers and to inspect what was copied.

static napi_value throw_errno(napi_env env, const char *syscall, const char *path) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, path, strerror(errno));
  napi_value err, code, m;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_int32(env, errno, &code);
  napi_set_named_property(env, err, "errno", code);
  napi_throw(env, err);
  return NULL;
}

// lsetxattr(path, name, value: Buffer)
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  ARGS(3);
  char *path = get_string(env, argv[0]);
  char *name = get_string(env, argv[1]);
  void *data; size_t len;
  napi_get_buffer_info(env, argv[2], &data, &len);
  int r = lsetxattr(path, name, data, len, 0);
  napi_value ret = NULL;
  if (r != 0) throw_errno(env, "lsetxattr", path);
  free(path); free(name);
  return ret;
}

// lgetxattrs(path) -> { name: Buffer }
static napi_value js_lgetxattrs(napi_env env, napi_callback_info info) {
  ARGS(1);
  char *path = get_string(env, argv[0]);
  char *list = malloc(XBUF), *val = malloc(XBUF);
  napi_value obj = NULL;
  ssize_t n = llistxattr(path, list, XBUF);
  if (n < 0 && errno != ENOTSUP) { throw_errno(env, "llistxattr", path); goto out; }
  napi_create_object(env, &obj);
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    ssize_t vn = lgetxattr(path, list + i, val, XBUF);
    if (vn < 0) { obj = NULL; throw_errno(env, "lgetxattr", path); goto out; }
    napi_value b;
    void *out;
    napi_create_buffer_copy(env, (size_t)vn, val, &out, &b);
    napi_set_named_property(env, obj, list + i, b);
  }
out:
  free(list); free(val); free(path);
  return obj;
}

// lutimens(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec)
static napi_value js_lutimens(napi_env env, napi_callback_info info) {
  ARGS(5);
  char *path = get_string(env, argv[0]);
  int64_t v[4];
  for (int i = 0; i < 4; i++) napi_get_value_int64(env, argv[i + 1], &v[i]);
  struct timespec ts[2] = {{(time_t)v[0], (long)v[1]}, {(time_t)v[2], (long)v[3]}};
  if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno(env, "utimensat", path);
  free(path);
  return NULL;
}

// mknod(path, mode (with type bits), major, minor)
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  ARGS(4);
  char *path = get_string(env, argv[0]);
  uint32_t mode, maj, min;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &maj);
  napi_get_value_uint32(env, argv[3], &min);
  if (mknod(path, (mode_t)mode, makedev(maj, min)) != 0) throw_errno(env, "mknod", path);
  free(path);
  return NULL;
}


NAPI_MODULE_INIT() {
  my_euid = geteuid();
  my_egid = getegid();
  my_umask = read_umask();
  napi_property_descriptor props[] = {
    {"copyEntries", NULL, copy_entries, NULL, NULL, NULL, napi_default, NULL},
    {"dirMeta", NULL, dir_meta_entries, NULL, NULL, NULL, napi_default, NULL},
    {"linkEntries", NULL, link_entries, NULL, NULL, NULL, napi_default, NULL},
    {"renameNoReplace", NULL, rename_noreplace, NULL, NULL, NULL, napi_default, NULL},
    {"listDir", NULL, list_dir, NULL, NULL, NULL, napi_default, NULL},
    {"makeDir", NULL, make_dir, NULL, NULL, NULL, napi_default, NULL},
    {"removeEntry", NULL, remove_entry, NULL, NULL, NULL, napi_default, NULL},
    {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
    {"lgetxattrs", NULL, js_lgetxattrs, NULL, NULL, NULL, napi_default, NULL},
    {"lutimens", NULL, js_lutimens, NULL, NULL, NULL, napi_default, NULL},
    {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
    {"isRoot", NULL, is_root, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
