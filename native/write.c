// Writing entries that come from a tar stream (image layers) beneath a root
// fd (native/tar.c): every parent is resolved with openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS), every entry is created with the *at calls on that
// parent, never following a symlink.
#include "write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "paths.h"
#include "sys.h"
#include "meta.h"
#include "xattr.h"

// The parent directory of rel beneath root (O_PATH), and rel's last name.
static int parent_beneath(int root, const char *rel, const char **name, failure *f) {
  const char *slash = strrchr(rel, '/');
  *name = slash ? slash + 1 : rel;
  char *parent = slash ? strndup(rel, (size_t)(slash - rel)) : strdup("");
  if (!parent) {
    fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, rel);
    return -1;
  }
  int dir = open_beneath(root, parent, O_PATH | O_DIRECTORY);
  if (dir < 0) fail_errno(f, errno, "openat2", SIDE_ROOTFS, rel);
  free(parent);
  return dir;
}

int write_make_entry(int root, const char *rel, char type, const char *target, uint64_t rdev, failure *f) {
  const char *name;
  int dir = parent_beneath(root, rel, &name, f);
  if (dir < 0) return -1;
  int rc = 0;
  const char *call = "mknod";
  switch (type) {
    case 'd':
      call = "mkdir";
      rc = mkdirat(dir, name, 0700);
      break;
    case 'l':
      call = "symlink";
      rc = symlinkat(target, dir, name);
      break;
    case 'c':
      rc = lc_mknodat(dir, name, S_IFCHR | 0600, (dev_t)rdev);
      break;
    case 'b':
      rc = lc_mknodat(dir, name, S_IFBLK | 0600, (dev_t)rdev);
      break;
    case 'p':
      rc = lc_mknodat(dir, name, S_IFIFO | 0600, 0);
      break;
    case 'h': {
      // A hardlink to an entry already written beneath the same root: both
      // ends resolved beneath it, so a link can never reach outside.
      call = "link";
      const char *tname;
      int tdir = parent_beneath(root, target, &tname, f);
      if (tdir < 0) {
        close(dir);
        return -1;
      }
      rc = linkat(tdir, tname, dir, name, 0);
      int e = errno;
      close(tdir);
      errno = e;
      break;
    }
    default:
      errno = EINVAL;
      rc = -1;
  }
  if (rc != 0) fail_errno(f, errno, call, SIDE_ROOTFS, rel);
  close(dir);
  return rc;
}

int write_set_meta(const meta_policy *p, int root, const char *rel, char kind, const write_meta *m, failure *f) {
  const char *name;
  int dir = rel[0] ? parent_beneath(root, rel, &name, f) : -1;
  if (rel[0] && dir < 0) return -1;
  int rc = write_set_meta_at(p, rel[0] ? dir : root, rel[0] ? name : ".", rel, kind, m, f);
  if (dir >= 0) close(dir);
  return rc;
}

// The metadata of an entry by the policy (native/meta.h), through fd when
// fd >= 0 (a regular file being written: no path resolved again), else of
// the name entry in the directory fd at, never following it. A tar entry's
// xattrs are PAX records, never the entry's own. The owner and mode a new
// entry was made with (m->fresh) are not set again: on a 13k-entry image
// ~26k fchown and fchmod calls set what the files already had.
static int set_meta(const meta_policy *p, int at, const char *entry, int fd, const char *rel, char kind, const write_meta *m, failure *f) {
  char path[64 + 4096];
  // The /proc/self/fd path serves only the xattr calls: an entry with no
  // xattrs whose owner is set as it is (owners keep) makes none, and its
  // snprintf was 2% of the CPU of a layer of 1M empty files.
  int xattrs = m->nxattrs > 0 || p->owners != OWNERS_KEEP;
  if (fd < 0 && xattrs && fd_path(path, sizeof path, at, entry) != 0) {
    fail_errno(f, ENAMETOOLONG, "lsetxattr", SIDE_ROOTFS, rel);
    return -1;
  }
  meta_src s = {.kind = kind,
                .uid = m->uid,
                .gid = m->gid,
                .mode = m->mode & 07777,
                .atime = {.tv_sec = m->atime_sec, .tv_nsec = m->atime_nsec},
                .mtime = {.tv_sec = m->mtime_sec, .tv_nsec = m->mtime_nsec}};
  meta_dst d = {
      .fd = fd, .dir = at, .name = entry, .path = fd < 0 && xattrs ? path : NULL, .have_uid = (uid_t)-1, .have_gid = (gid_t)-1, .have_mode = (mode_t)-1};
  if (m->fresh) {
    d.have_uid = m->have_uid;
    d.have_gid = m->have_gid;
    // An access ACL among the xattrs changes the mode bits: set it again.
    d.have_mode = m->nxattrs ? (mode_t)-1 : m->have_mode;
  }
  meta_xattrs x = {.n = m->nxattrs, .names = m->xattr_names, .values = m->xattr_values, .sizes = m->xattr_sizes};
  return meta_apply(p, &d, &s, &x, f, rel);
}

int write_set_meta_at(const meta_policy *p, int at, const char *entry, const char *rel, char kind, const write_meta *m, failure *f) {
  return set_meta(p, at, entry, -1, rel, kind, m, f);
}

int write_set_meta_fd(const meta_policy *p, int fd, const char *rel, const write_meta *m, failure *f) { return set_meta(p, -1, NULL, fd, rel, 'f', m, f); }

void write_tally_removed(write_tally *c, const struct stat *st) {
  c->entries--;
  if (S_ISDIR(st->st_mode)) {
    c->directories--;
  } else if (st->st_nlink > 1) {
    c->hardlinks--;
  } else if (S_ISREG(st->st_mode)) {
    c->bytes -= st->st_size;
  }
}

int write_ensure_dirs(int root, const char *rel, write_tally *tally, size_t *replaced, failure *f) {
  // Each component of rel is made a real directory beneath root (0755, as
  // an implied parent): a non-directory there (a file or a symlink of the
  // same layer) is replaced, so nothing is ever written through it.
  char *copy = strdup(rel);
  if (!copy) {
    fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, rel);
    return -1;
  }
  if (replaced) *replaced = 0;
  int dir = open_beneath(root, "", O_PATH | O_DIRECTORY);
  int rc = dir < 0 ? -1 : 0;
  if (dir < 0) fail_errno(f, errno, "openat2", SIDE_ROOTFS, "");
  for (char *part = copy, *next; rc == 0 && part && *part; part = next) {
    next = strchr(part, '/');
    if (next) *next++ = '\0';
    struct stat st;
    if (lc_fstatat(dir, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
      if (unlinkat(dir, part, 0) != 0) {
        fail_errno(f, errno, "unlink", SIDE_ROOTFS, rel);
        rc = -1;
        break;
      }
      if (tally) write_tally_removed(tally, &st);
      if (replaced) *replaced = (size_t)(part - copy) + strlen(part);
    }
    if (mkdirat(dir, part, 0755) == 0) {
      if (tally) {
        tally->entries++;
        tally->directories++;
      }
    } else if (errno != EEXIST) {
      fail_errno(f, errno, "mkdir", SIDE_ROOTFS, rel);
      rc = -1;
      break;
    }
    int sub = openat(dir, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0) {
      fail_errno(f, errno, "open", SIDE_ROOTFS, rel);
      rc = -1;
      break;
    }
    close(dir);
    dir = sub;
  }
  if (dir >= 0) close(dir);
  free(copy);
  return rc;
}
