#include "copy.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "meta.h"
#include "unlock.h"
#include "xattr.h"

#define COPY_BUF (1024 * 1024)
// copy_file_range is asked for at most this much per call, so an abort is
// noticed soon even inside a multi-gigabyte file (docs/benchmarks.md,
// "Figures behind the code: Big files").
#define COPY_CHUNK ((size_t)64 * 1024 * 1024)

// parent_of, with a failure reported as openat2 of rel on `side` (0 the
// layer, 1 the rootfs).
static int parent_or_fail(parent_cache *pc, const char *rel, const char **name, side_t side, failure *f) {
  int dir = parent_of(pc, rel, name);
  if (dir < 0) fail_errno(f, errno, "openat2", side, rel);
  return dir;
}

int copy_ctx_init(copy_ctx *c, int src_root, int dst_root, const char *base, const int32_t *cancel, failure *f) {
  memset(c, 0, sizeof *c);
  c->src_base = c->dst_base = -1;
  pc_init(&c->src, src_root, O_PATH);
  pc_init(&c->dst, dst_root, O_RDONLY);
  c->cancel = cancel;
  if (base && base[0]) {
    if (src_root >= 0 && (c->src_base = open_beneath(src_root, base, O_PATH | O_DIRECTORY)) < 0) {
      fail_errno(f, errno, "openat2", SIDE_LAYER, "");
      return -1;
    }
    if ((c->dst_base = open_beneath(dst_root, base, O_PATH | O_DIRECTORY)) < 0) {
      fail_errno(f, errno, "openat2", SIDE_ROOTFS, "");
      return -1;
    }
    c->src.root_fd = c->src_base;
    c->dst.root_fd = c->dst_base;
  }
  c->list = malloc(XBUF);
  c->val = malloc(XBUF);
  if (!c->list || !c->val) {
    fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, "");
    return -1;
  }
  return 0;
}

void copy_ctx_free(copy_ctx *c) {
  pc_close(&c->src);
  pc_close(&c->dst);
  if (c->src_base >= 0) close(c->src_base);
  if (c->dst_base >= 0) close(c->dst_base);
  c->src_base = c->dst_base = -1;
  free(c->list);
  free(c->val);
  free(c->buf);
  c->list = c->val = c->buf = NULL;
  meta_changes_free(&c->changes);
}

// The metadata policy's view of a source entry read from disk.
static meta_src src_of(const struct stat *st, char kind) {
  return (meta_src){.kind = kind, .uid = st->st_uid, .gid = st->st_gid, .disk = 1, .mode = st->st_mode & 07777, .atime = st->st_atim, .mtime = st->st_mtim};
}

// Copies [start, end) of sfd to the same offsets of dfd. Holes: st_blocks
// counts 512-byte units; fewer than the size needs means the file is
// sparse, so only its data extents are copied and the rest stays holes
// (copy_file_range alone would fill them in on some filesystems). On XFS
// and btrfs, copy_file_range between files of one filesystem reflinks.
static int copy_range(copy_ctx *c, int sfd, int dfd, const struct stat *st, off_t start, off_t stop, failure *f, const char *rel) {
  int sparse = (off_t)st->st_blocks * 512 < st->st_size;
  off_t pos = start;
  int use_cfr = 1;
  while (pos < stop) {
    off_t end = stop;
    if (sparse) {
      off_t data = lseek(sfd, pos, SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // the rest is a hole
        sparse = 0;
        data = pos;
      }
      if (sparse) {
        if (data >= stop) break;
        off_t hole = lseek(sfd, data, SEEK_HOLE);
        if (hole < 0) hole = stop;
        pos = data;
        end = hole < stop ? hole : stop;
      }
    }
    while (pos < end) {
      if (lc_cancelled(c->cancel)) {
        fail_code(f, CODE_CANCELED, "copy", SIDE_ROOTFS, rel);
        return -1;
      }
      size_t want = (size_t)(end - pos) < COPY_CHUNK ? (size_t)(end - pos) : COPY_CHUNK;
      if (use_cfr) {
        loff_t in = pos, out = pos;
        ssize_t n = lc_copy_file_range(sfd, &in, dfd, &out, want, 0);
        if (n > 0) {
          pos += n;
          continue;
        }
        if (n == 0) {
          fail_code(f, CODE_SRC_CHANGED, "copy_file_range", SIDE_LAYER, rel);
          return -1;
        }
        if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP || errno == EPERM) {
          use_cfr = 0;
        } else {
          fail_errno(f, errno, "copy_file_range", errno == ENOSPC || errno == EDQUOT || errno == EFBIG ? SIDE_ROOTFS : SIDE_LAYER, rel);
          return -1;
        }
      }
      if (!c->buf && !(c->buf = malloc(COPY_BUF))) {
        fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, rel);
        return -1;
      }
      if (want > COPY_BUF) want = COPY_BUF;
      ssize_t n = pread(sfd, c->buf, want, pos);
      if (n < 0) {
        fail_errno(f, errno, "read", SIDE_LAYER, rel);
        return -1;
      }
      if (n == 0) {
        fail_code(f, CODE_SRC_CHANGED, "read", SIDE_LAYER, rel);
        return -1;
      }
      for (ssize_t w = 0; w < n;) {
        ssize_t m = pwrite(dfd, c->buf + w, (size_t)(n - w), pos + w);
        if (m < 0) {
          fail_errno(f, errno, "write", SIDE_ROOTFS, rel);
          return -1;
        }
        w += m;
      }
      pos += n;
    }
  }
  return 0;
}

static int copy_data(copy_ctx *c, int sfd, int dfd, const struct stat *st, failure *f, const char *rel) {
  if (st->st_size == 0) return 0;
  if (copy_range(c, sfd, dfd, st, 0, st->st_size, f, rel) != 0) return -1;
  // A trailing hole leaves dst short: the size is set explicitly.
  if ((off_t)st->st_blocks * 512 < st->st_size && ftruncate(dfd, st->st_size) != 0) {
    fail_errno(f, errno, "ftruncate", SIDE_ROOTFS, rel);
    return -1;
  }
  return 0;
}

static int type_matches(char type, mode_t m) {
  switch (type) {
    case 'f':
      return S_ISREG(m);
    case 'l':
      return S_ISLNK(m);
    case 'c':
      return S_ISCHR(m);
    case 'b':
      return S_ISBLK(m);
    case 'p':
      return S_ISFIFO(m);
    case 's':
      return S_ISSOCK(m);
    default:
      return 0;
  }
}

// A regular file's metadata once its data is in (meta_apply: owner, xattrs,
// mode, times). Most files of an image are root's, 0644 or 0755: created
// with that mode, the new file already has the right owner and mode, so the
// chown and chmod are skipped (two of the few syscalls a file costs) —
// unless the directory has a default ACL, which replaces the umask at
// creation (the inherited ACLs go first).
static int finish_file(copy_ctx *c, int sfd, int dfd, const struct stat *st, failure *f, const char *rel) {
  int acl = pc_default_acl(&c->dst);
  meta_src s = src_of(st, 'f');
  meta_dst d = {.fd = dfd,
                .dir = -1,
                .have_uid = lc_euid,
                .have_gid = c->dst.new_gid,
                .have_mode = acl ? (mode_t)-1 : st->st_mode & 0777 & ~lc_umask,
                .strip = acl ? STRIP_ACLS : STRIP_NONE};
  xref from = {sfd, NULL};
  meta_xattrs x = {.from = &from, .list = c->list, .val = c->val};
  return meta_apply(&c->policy, &d, &s, &x, f, rel);
}

// Closes a source file opened by open_source, its mode given back first
// where it was unlocked.
static void restore_source(int sfd, mode_t locked) {
  if (locked != (mode_t)-1) (void)fchmod(sfd, locked);
  close(sfd);
}

// Opens a planned regular file of the layer: O_NONBLOCK | O_NOCTTY, because
// a FIFO swapped in since would block open() forever (and a worker stuck in
// a syscall keeps the process from exiting, even on SIGTERM) and a tty would
// become our controlling terminal; then fstat must say regular file. A file
// of this user's own that it may not read is opened with u+r added
// (native/unlock.h): *locked gets its mode, which restore_source gives
// back, and so does st; else (mode_t)-1.
static int open_source(copy_ctx *c, const char *rel, struct stat *st, mode_t *locked, failure *f) {
  const char *name;
  int sdir = parent_or_fail(&c->src, rel, &name, SIDE_LAYER, f);
  if (sdir < 0) return -1;
  int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  int sfd = openat(sdir, name, flags | O_NOATIME);
  if (sfd < 0 && errno == EPERM) sfd = openat(sdir, name, flags);
  *locked = (mode_t)-1;
  if (sfd < 0 && errno == EACCES) sfd = unlock_open_file(sdir, name, flags | O_NOATIME, locked);
  if (sfd < 0) {
    if (errno == ELOOP)
      fail_code(f, CODE_SRC_CHANGED, "open", SIDE_LAYER, rel);
    else
      fail_errno(f, errno, "open", SIDE_LAYER, rel);
    return -1;
  }
  if (lc_fstat(sfd, st) != 0) {
    fail_errno(f, errno, "fstat", SIDE_LAYER, rel);
    restore_source(sfd, *locked);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    fail_code(f, CODE_SRC_CHANGED, "fstat", SIDE_LAYER, rel);
    restore_source(sfd, *locked);
    return -1;
  }
  if (*locked != (mode_t)-1) st->st_mode = (st->st_mode & S_IFMT) | *locked;
  return sfd;
}

// Regular file: open src, fstat, create dst O_EXCL, data, owner, mode,
// xattrs, times, close.
static copy_outcome copy_file(copy_ctx *c, const char *rel, int defer_links, uint64_t defer_large, defer_key *key, int64_t *bytes, failure *f) {
  struct stat st;
  mode_t locked;
  int sfd = open_source(c, rel, &st, &locked, f);
  if (sfd < 0) return COPY_FAILED;
  const char *name;
  copy_outcome result = COPY_FAILED;
  int dfd = -1;
  if (defer_links && st.st_nlink > 1) {
    *key = (defer_key){.type = 'f', .dev = (uint64_t)st.st_dev, .ino = (uint64_t)st.st_ino, .size = (uint64_t)st.st_size, .nlink = (uint64_t)st.st_nlink};
    result = COPY_DEFER_LINKED;
    goto out;
  }
  if (defer_large && (uint64_t)st.st_size >= defer_large) {
    *key = (defer_key){.type = 'f', .size = (uint64_t)st.st_size};
    result = COPY_DEFER_LARGE;
    goto out;
  }
  int ddir = parent_or_fail(&c->dst, rel, &name, SIDE_ROOTFS, f);
  if (ddir < 0) goto out;
  mode_t want = st.st_mode & 07777;
  dfd = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, want & 0777);
  if (dfd < 0) {
    fail_errno(f, errno, "open", SIDE_ROOTFS, rel);
    goto out;
  }
  if (copy_data(c, sfd, dfd, &st, f, rel) != 0) goto out;
  if (finish_file(c, sfd, dfd, &st, f, rel) != 0) goto out;
  *bytes = st.st_size;
  result = COPY_DONE;
out:
  restore_source(sfd, locked);
  if (dfd >= 0 && close(dfd) != 0 && result == COPY_DONE) {
    fail_errno(f, errno, "close", SIDE_ROOTFS, rel);
    result = COPY_FAILED;
  }
  return result;
}

// The lstat of a planned entry of the layer, through its parent: the
// parent's fd, or -1 with *f set (ESRCCHANGED when its type is no longer
// the planned one).
static int stat_source(copy_ctx *c, const char *rel, char type, const char **name, struct stat *st, failure *f) {
  int sdir = parent_or_fail(&c->src, rel, name, SIDE_LAYER, f);
  if (sdir < 0) return -1;
  if (lc_fstatat(sdir, *name, st, AT_SYMLINK_NOFOLLOW) != 0) {
    fail_errno(f, errno, "lstat", SIDE_LAYER, rel);
    return -1;
  }
  if (!type_matches(type, st->st_mode)) {
    fail_code(f, CODE_SRC_CHANGED, "lstat", SIDE_LAYER, rel);
    return -1;
  }
  return sdir;
}

// 1 with *key set when the entry is a name of a hardlink group to hand back.
static int defer_link(int defer_links, char type, const struct stat *st, defer_key *key) {
  if (!defer_links || st->st_nlink <= 1) return 0;
  *key = (defer_key){.type = type, .dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino, .nlink = (uint64_t)st->st_nlink};
  return 1;
}

// Symlinks, devices, FIFOs, sockets: made from the lstat of the source,
// which is never opened. A device node is what the policy makes of it
// (meta_device): the node, an empty file, or nothing.
static copy_outcome copy_special(copy_ctx *c, const char *rel, char type, int defer_links, defer_key *key, failure *f) {
  const char *name;
  struct stat st;
  int sdir = stat_source(c, rel, type, &name, &st, f);
  if (sdir < 0) return COPY_FAILED;
  int device = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode);
  // A hardlink group's first name is handed back (and counted) by the batch
  // that meets it, then copied by a task that hands nothing back: the only
  // copy of a name with links that does not defer. Counted once, not again
  // here (--devices empty listed it twice).
  int handed_back = !defer_links && st.st_nlink > 1 && c->policy.devices == DEVICES_EMPTY;
  int act = !device ? DEVICE_MAKE : handed_back ? DEVICE_EMPTY : meta_device(&c->policy, type, (uint64_t)st.st_rdev, rel, f);
  if (act < 0) return COPY_FAILED;
  // Every name of a skipped node is left out, each counted: none is linked.
  if (act == DEVICE_SKIP) return COPY_DONE;
  // cp -a keeps hardlinks between symlinks, FIFOs and device nodes too.
  if (defer_link(defer_links, type, &st, key)) return COPY_DEFER_LINKED;
  char target[PATH_MAX + 1];
  if (S_ISLNK(st.st_mode)) {
    ssize_t n = readlinkat(sdir, name, target, PATH_MAX);
    if (n < 0) {
      fail_errno(f, errno, "readlink", SIDE_LAYER, rel);
      return COPY_FAILED;
    }
    target[n] = '\0';
  }
  char spath[64 + NAME_MAX + 1], dpath[64 + NAME_MAX + 1];
  if (fd_path(spath, sizeof spath, sdir, name) != 0) {
    fail_errno(f, ENAMETOOLONG, "lgetxattr", SIDE_LAYER, rel);
    return COPY_FAILED;
  }
  const char *dname;
  int ddir = parent_or_fail(&c->dst, rel, &dname, SIDE_ROOTFS, f);
  if (ddir < 0) return COPY_FAILED;
  (void)fd_path(dpath, sizeof dpath, ddir, dname);
  int fd = -1;
  if (S_ISLNK(st.st_mode)) {
    if (symlinkat(target, ddir, dname) != 0) {
      fail_errno(f, errno, "symlink", SIDE_ROOTFS, rel);
      return COPY_FAILED;
    }
  } else if (act == DEVICE_EMPTY) {
    if ((fd = openat(ddir, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
      fail_errno(f, errno, "open", SIDE_ROOTFS, rel);
      return COPY_FAILED;
    }
  } else if (lc_mknodat(ddir, dname, (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
    if (device)
      meta_device_refused(&c->policy, errno, type, (uint64_t)st.st_rdev, rel, f);
    else
      fail_errno(f, errno, "mknod", SIDE_ROOTFS, rel);
    return COPY_FAILED;
  }
  // Symlinks carry no ACL; a node made under a default ACL inherits one.
  int acl = !S_ISLNK(st.st_mode) && pc_default_acl(&c->dst);
  meta_src s = src_of(&st, act == DEVICE_EMPTY ? 'f' : type);
  meta_dst d = {.fd = fd,
                .dir = ddir,
                .name = dname,
                .path = dpath,
                .have_uid = lc_euid,
                .have_gid = c->dst.new_gid,
                .have_mode = acl || S_ISLNK(st.st_mode) ? (mode_t)-1 : 0600 & ~lc_umask,
                .strip = acl ? STRIP_ACLS : STRIP_NONE};
  xref from = {-1, spath};
  meta_xattrs x = {.from = &from, .list = c->list, .val = c->val};
  int rc = meta_apply(&c->policy, &d, &s, &x, f, rel);
  if (fd >= 0 && close(fd) != 0 && rc == 0) {
    fail_errno(f, errno, "close", SIDE_ROOTFS, rel);
    rc = -1;
  }
  return rc == 0 ? COPY_DONE : COPY_FAILED;
}

// The layered strategy's replacement of a lower non-directory: unlinked, not
// written into, so its other hardlinked names keep their content (as
// overlayfs shows the layers). Done here, by the worker, just before the
// copy: on the main thread they were a large share of planning
// (docs/benchmarks.md, "Figures behind the code: Main-thread removals").
static int unlink_lower(copy_ctx *c, const char *rel, failure *f) {
  const char *name;
  int ddir = parent_or_fail(&c->dst, rel, &name, SIDE_ROOTFS, f);
  if (ddir < 0) return -1;
  if (unlinkat(ddir, name, 0) != 0 && errno != ENOENT) {
    fail_errno(f, errno, "unlink", SIDE_ROOTFS, rel);
    return -1;
  }
  return 0;
}

// A non-directory of a tar layer's scratch extraction linked into place:
// the entry keeps its inode, so its metadata comes with it, and nothing is
// written. A link rather than a rename: a rename would change the scratch
// directory's times, which the directory's metadata is copied from at the
// end. (linkat fails with EEXIST: the plan writes each name once.) *copy:
// the entry is to be copied instead (see below).
static copy_outcome link_scratch_entry(copy_ctx *c, const char *rel, char type, int defer_links, defer_key *key, int64_t *bytes, int *copy, failure *f) {
  const char *name, *dname;
  struct stat st;
  *copy = 0;
  int sdir = stat_source(c, rel, type, &name, &st, f);
  if (sdir < 0) return COPY_FAILED;
  // Names of a hardlink group still go back, so that the summary counts
  // them as the copy path does (one name copied, the others linked to it).
  if (defer_link(defer_links, type, &st, key)) return COPY_DEFER_LINKED;
  // That one name is copied, not linked: linking every name of a group to
  // the scratch inode would double its link count, past ext4's 65,000 for
  // a big group.
  if (st.st_nlink > 1) {
    *copy = 1;
    return COPY_FAILED;
  }
  int ddir = parent_or_fail(&c->dst, rel, &dname, SIDE_ROOTFS, f);
  if (ddir < 0) return COPY_FAILED;
  if (linkat(sdir, name, ddir, dname, 0) != 0) {
    // A filesystem that refuses the link (no hardlinks, or the inode at its
    // limit): copied instead.
    if (errno == EMLINK || errno == EPERM || errno == EOPNOTSUPP || errno == EXDEV) {
      *copy = 1;
      return COPY_FAILED;
    }
    fail_errno(f, errno, "link", SIDE_ROOTFS, rel);
    return COPY_FAILED;
  }
  *bytes = S_ISREG(st.st_mode) ? st.st_size : 0;
  return COPY_DONE;
}

copy_outcome copy_entry(copy_ctx *c, const char *rel, char type, int defer_links, uint64_t defer_large, defer_key *key, int64_t *bytes, failure *f) {
  *bytes = 0;
  if (type >= 'A' && type <= 'Z') {
    if (unlink_lower(c, rel, f) != 0) return COPY_FAILED;
    type = (char)(type - 'A' + 'a');
  }
  if (c->move) {
    int copy;
    copy_outcome r = link_scratch_entry(c, rel, type, defer_links, key, bytes, &copy, f);
    if (!copy) return r;
  }
  if (type == 'f') return copy_file(c, rel, defer_links, defer_large, key, bytes, f);
  return copy_special(c, rel, type, defer_links, key, f);
}

int dir_meta(copy_ctx *c, const char *rel, int keep_mode, mode_t *later, failure *f) {
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;
  int sfd = open_beneath(c->src.root_fd, rel, flags | O_NOATIME);
  if (sfd < 0 && errno == EPERM) sfd = open_beneath(c->src.root_fd, rel, flags);
  if (sfd < 0) {
    fail_errno(f, errno, "open", SIDE_LAYER, rel);
    return -1;
  }
  int dfd = open_beneath(c->dst.root_fd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (dfd < 0) {
    fail_errno(f, errno, "open", SIDE_ROOTFS, rel);
    close(sfd);
    return -1;
  }
  int rc = -1;
  struct stat st;
  if (lc_fstat(sfd, &st) != 0) {
    fail_errno(f, errno, "fstat", SIDE_LAYER, rel);
    goto out;
  }
  // A directory the plan unlocked to list it: its own mode (native/unlock.h).
  mode_t orig;
  if (unlock_lookup(st.st_dev, st.st_ino, &orig)) st.st_mode = (st.st_mode & S_IFMT) | orig;
  // Directories always replace the xattrs: one made under a default ACL
  // inherits both ACLs, and a merged directory takes the topmost layer's
  // xattrs, not the lower's.
  meta_src s = src_of(&st, 'd');
  meta_dst d = {
      .fd = dfd, .dir = -1, .have_uid = (uid_t)-1, .have_gid = (gid_t)-1, .have_mode = (mode_t)-1, .strip = STRIP_ALL, .keep_mode = keep_mode, .later = later};
  xref from = {sfd, NULL};
  meta_xattrs x = {.from = &from, .list = c->list, .val = c->val};
  if (meta_apply(&c->policy, &d, &s, &x, f, rel) != 0) goto out;
  rc = 0;
out:
  close(sfd);
  close(dfd);
  return rc;
}

int link_entry(copy_ctx *c, parent_cache *other, const char *existing, const char *new_rel, failure *f) {
  const char *an, *bn;
  int ad = parent_or_fail(other, existing, &an, SIDE_ROOTFS, f);
  if (ad < 0) return -1;
  int bd = parent_or_fail(&c->dst, new_rel, &bn, SIDE_ROOTFS, f);
  if (bd < 0) return -1;
  if (linkat(ad, an, bd, bn, 0) != 0) {
    fail_errno(f, errno, "link", SIDE_ROOTFS, new_rel);
    return -1;
  }
  return 0;
}
