#include "remove.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

// Directory fds kept open along the current path. Deeper levels than this
// are closed and reopened by name (and checked by dev/ino) when the walk
// comes back up, so a 30,000-level tree needs no more fds than a shallow
// one: an fd per level failed with EMFILE.
#define KEEP_FDS 32

typedef struct {
  char *name;  // in the parent (NULL for the top)
  dev_t dev;
  ino_t ino;
  int fd;  // -1 when closed to bound the fds in use
  int listed;
  int kept;        // something below stays (a mount): the directory cannot go
  char **subdirs;  // found while listing, still to visit
  size_t nsub, capsub;
} frame;

typedef struct {
  frame *v;
  size_t n, cap;
  int open_fds;
  dev_t dev;  // the filesystem of the top: nothing on another is entered
  int mounts;
  // Best effort, like rm -rf: an entry that cannot be opened or removed
  // stays (with its ancestors) and the walk goes on with the rest; the first
  // such failure is reported, naming its path, and how many more there were.
  int failed;
  int err;
  const char *syscall;
  char *failed_path;
  failure *f;
  const int32_t *cancel;
} walk;

static void frame_free(frame *fr) {
  if (fr->fd >= 0) close(fr->fd);
  for (size_t i = 0; i < fr->nsub; i++) free(fr->subdirs[i]);
  free(fr->subdirs);
  free(fr->name);
}

static int push_subdir(frame *fr, const char *name) {
  if (fr->nsub == fr->capsub) {
    size_t cap = fr->capsub ? fr->capsub * 2 : 16;
    char **p = realloc(fr->subdirs, cap * sizeof *p);
    if (!p) return -1;
    fr->subdirs = p;
    fr->capsub = cap;
  }
  if (!(fr->subdirs[fr->nsub] = strdup(name))) return -1;
  fr->nsub++;
  return 0;
}

// The path of frame i's child `leaf` relative to the top's parent.
static char *path_of(walk *w, size_t i, const char *leaf) {
  if (i == (size_t)-1) return strdup(leaf);
  size_t len = strlen(leaf) + 1;
  for (size_t k = 0; k <= i; k++) len += strlen(w->v[k].name) + 1;
  char *p = malloc(len);
  if (!p) return NULL;
  p[0] = '\0';
  for (size_t k = 0; k <= i; k++) {
    strcat(p, w->v[k].name);
    strcat(p, "/");
  }
  strcat(p, leaf);
  return p;
}

// Opens frame i again from the nearest open ancestor, one name at a time,
// each checked against the dev/ino seen on the way down: a directory
// renamed or swapped meanwhile is never entered.
static int reopen(walk *w, size_t i) {
  size_t k = i;
  while (w->v[k].fd < 0) k--;
  int fd = w->v[k].fd;
  for (size_t j = k + 1; j <= i; j++) {
    int next = openat(fd, w->v[j].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int e = errno;
    if (fd != w->v[k].fd) close(fd);
    if (next < 0) {
      fail_errno(w->f, e, "open", SIDE_ROOTFS, NULL);
      return -1;
    }
    struct stat st;
    if (lc_fstat(next, &st) != 0 || st.st_dev != w->v[j].dev || st.st_ino != w->v[j].ino) {
      close(next);
      fail_code(w->f, CODE_SRC_CHANGED, "open", SIDE_ROOTFS, NULL);
      return -1;
    }
    fd = next;
  }
  w->v[i].fd = fd;
  w->open_fds++;
  return 0;
}

static int push_frame(walk *w, char *name, int fd, const struct stat *st) {
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 64;
    frame *p = realloc(w->v, cap * sizeof *p);
    if (!p) return -1;
    w->v = p;
    w->cap = cap;
  }
  w->v[w->n++] = (frame){.name = name, .dev = st->st_dev, .ino = st->st_ino, .fd = fd};
  w->open_fds++;
  if (w->open_fds > KEEP_FDS) {
    // Close the shallowest open fd below the top (the top stays open: it is
    // where every reopen starts).
    for (size_t k = 1; k < w->n; k++) {
      if (w->v[k].fd >= 0) {
        close(w->v[k].fd);
        w->v[k].fd = -1;
        w->open_fds--;
        break;
      }
    }
  }
  return 0;
}

// Entry `name` of frame i stays: err from syscall. It and the directories
// above it are kept; the first failure is the one reported.
static void note_failure(walk *w, size_t i, const char *name, int err, const char *syscall) {
  if (w->failed++ == 0) {
    w->err = err;
    w->syscall = syscall;
    w->failed_path = path_of(w, i, name);
  }
  for (size_t k = 0; k < w->n && k <= i; k++) w->v[k].kept = 1;
}

// Unlinks every non-directory of the frame's directory and collects its
// subdirectories (one pass; a directory with many subdirectories is read
// once, not once per subdirectory).
static int list_frame(walk *w, frame *fr, int force_writable) {
  if (force_writable) {
    struct stat st;
    if (lc_fstat(fr->fd, &st) == 0 && (st.st_mode & 0700) != 0700) (void)fchmod(fr->fd, (st.st_mode & 07777) | 0700);
  }
  char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fr->fd, buf, sizeof buf);
    if (n < 0) {
      size_t i = (size_t)(fr - w->v);
      note_failure(w, i - 1, fr->name, errno, "getdents64");
      fr->kept = 1;
      break;
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      struct {
        uint64_t ino;
        int64_t off;
        unsigned short reclen;
        unsigned char type;
        char name[];
      } *e = (void *)(buf + off);
      off += e->reclen;
      if (strcmp(e->name, ".") == 0 || strcmp(e->name, "..") == 0) continue;
      if (lc_cancelled(w->cancel)) {
        fail_code(w->f, CODE_CANCELED, "remove", SIDE_ROOTFS, NULL);
        return -1;
      }
      if (e->type != 4 /* DT_DIR */) {
        if (unlinkat(fr->fd, e->name, 0) == 0 || errno == ENOENT) continue;
        if (errno != EISDIR && errno != EPERM) {
          note_failure(w, (size_t)(fr - w->v), e->name, errno, "unlink");
          continue;
        }
      }
      if (push_subdir(fr, e->name) != 0) {
        fail_errno(w->f, ENOMEM, "malloc", SIDE_ROOTFS, NULL);
        return -1;
      }
    }
  }
  fr->listed = 1;
  return 0;
}

// A directory of our own that we may not read or search (0000, as a
// rootless extraction writes one) is made 0700 so that it can be emptied, as
// its owner could with chmod; another owner's is left as it is. Reached
// through an O_PATH fd (lc_chmod_opath): a name swapped for a symlink
// meanwhile changes nothing.
static int open_up(int dir, const char *name) {
  int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  int rc = -1;
  if (lc_fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == lc_euid && (st.st_mode & 0700) != 0700)
    rc = lc_chmod_opath(fd, (st.st_mode & 07777) | 0700);
  close(fd);
  return rc;
}

// Is the directory open as fd on another filesystem than dev, or a mount
// point of that one (a bind mount shares st_dev with its source)?
static int is_mount(dev_t dev, int fd) {
  struct statx sx;
  if (lc_statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0) {
    // No statx (a kernel before 4.11, a seccomp filter that refuses it):
    // another filesystem is still told by st_dev, a bind mount is not.
    struct stat st;
    if ((errno == ENOSYS || errno == EPERM) && lc_fstat(fd, &st) == 0) return st.st_dev != dev;
    return 1;
  }
  if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != dev) return 1;
  return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void note_mount(walk *w, size_t parent, const char *name) {
  if (w->mounts++ == 0) {
    free(w->f->owned);
    w->f->owned = path_of(w, parent, name);
  }
}

static int step(walk *w, int force_writable) {
  size_t i = w->n - 1;
  frame *fr = &w->v[i];
  if (fr->fd < 0 && reopen(w, i) != 0) return -1;
  fr = &w->v[i];
  if (!fr->listed) return list_frame(w, fr, force_writable);
  if (fr->nsub > 0) {
    char *name = fr->subdirs[--fr->nsub];
    int fd = openat(fr->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == EACCES && force_writable && open_up(fr->fd, name) == 0)
      fd = openat(fr->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT) {
        free(name);
        return 0;
      }
      // Not a directory after all (replaced meanwhile, or a file unlink
      // refused with EPERM): unlink it, and report that call if it fails.
      const char *syscall = "open";
      if (e == ENOTDIR || e == ELOOP) {
        if (unlinkat(fr->fd, name, 0) == 0 || errno == ENOENT) {
          free(name);
          return 0;
        }
        e = errno;
        syscall = "unlink";
      }
      note_failure(w, i, name, e, syscall);
      free(name);
      return 0;
    }
    if (is_mount(w->dev, fd)) {
      // Like rm --one-file-system: never enter (nor chmod) a volume a
      // container had mounted here; it and its ancestors stay.
      close(fd);
      note_mount(w, i, name);
      free(name);
      fr->kept = 1;
      return 0;
    }
    struct stat st;
    if (lc_fstat(fd, &st) != 0) {
      note_failure(w, i, name, errno, "fstat");
      close(fd);
      free(name);
      return 0;
    }
    if (push_frame(w, name, fd, &st) != 0) {
      close(fd);
      free(name);
      fail_errno(w->f, ENOMEM, "malloc", SIDE_ROOTFS, NULL);
      return -1;
    }
    return 0;
  }
  // Empty now: remove it from its parent (the top is left to the caller).
  if (i == 0) return 1;
  frame *parent = &w->v[i - 1];
  if (parent->fd < 0) {
    // Back up through "..", checked against the dev/ino seen on the way
    // down: O(1) per level, where reopening from the top by name would make
    // a deep tree quadratic.
    int fd = openat(fr->fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd >= 0 && lc_fstat(fd, &st) == 0 && st.st_dev == parent->dev && st.st_ino == parent->ino) {
      parent->fd = fd;
      w->open_fds++;
    } else if (fd >= 0) {
      close(fd);
    }
  }
  int kept = fr->kept;
  char *name = fr->name;
  fr->name = NULL;
  if (fr->fd >= 0) w->open_fds--;
  frame_free(fr);
  w->n--;
  int rc = 0;
  if (kept) {
    parent->kept = 1;
  } else {
    if (parent->fd < 0 && reopen(w, i - 1) != 0)
      rc = -1;
    else if (unlinkat(w->v[i - 1].fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
      note_failure(w, i - 1, name, errno, "rmdir");
  }
  free(name);
  return rc;
}

// The directory a removal starts at (open as fd, beneath parent_fd) is held
// to the rule of those below it: where it is a mount it is not entered,
// nor made writable. Its callers start from entries of a provision's or a
// store's own directories, split into pieces (a scratch extraction's
// removal): a mount placed there is left as it is.
static int start_is_mount(int parent_fd, int fd) {
  struct stat up;
  return lc_fstat(parent_fd, &up) == 0 && is_mount(up.st_dev, fd);
}

static int refuse_start(failure *f, const char *name) {
  free(f->owned);
  f->owned = strdup(name);
  fail_code(f, CODE_MOUNT, "rmdir", SIDE_ROOTFS, f->owned ? f->owned : name);
  return -1;
}

int remove_tree(int parent_fd, const char *name, int force_writable, const int32_t *cancel, failure *f) {
  if (unlinkat(parent_fd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) {
    fail_errno(f, errno, "unlink", SIDE_ROOTFS, NULL);
    return -1;
  }
  int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == EACCES && force_writable) {
    // Looked at before it is made writable: a mount there is not changed either.
    int at = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int mount = at >= 0 && start_is_mount(parent_fd, at);
    if (at >= 0) close(at);
    if (mount) return refuse_start(f, name);
    errno = EACCES;
    if (open_up(parent_fd, name) == 0) fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  }
  if (fd < 0) {
    if (errno == ENOTDIR || errno == ELOOP)
      fail_errno(f, EPERM, "unlink", SIDE_ROOTFS, NULL);
    else
      fail_errno(f, errno, "open", SIDE_ROOTFS, NULL);
    return -1;
  }
  struct stat st;
  if (lc_fstat(fd, &st) != 0) {
    fail_errno(f, errno, "fstat", SIDE_ROOTFS, NULL);
    close(fd);
    return -1;
  }
  walk w = {.dev = st.st_dev, .f = f, .cancel = cancel};
  if (start_is_mount(parent_fd, fd)) {
    close(fd);
    return refuse_start(f, name);
  }
  char *top = strdup(name);
  if (!top || push_frame(&w, top, fd, &st) != 0) {
    free(top);
    close(fd);
    fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, NULL);
    return -1;
  }
  int rc;
  while ((rc = step(&w, force_writable)) == 0) {
  }
  int kept = w.v[0].kept;
  for (size_t i = 0; i < w.n; i++) frame_free(&w.v[i]);
  free(w.v);
  if (rc < 0) {
    free(w.failed_path);
    return -1;
  }
  if (w.failed) {
    free(f->owned);
    f->owned = w.failed_path;
    fail_errno(f, w.err, w.syscall, SIDE_ROOTFS, f->owned ? f->owned : name);
    f->more = w.failed - 1 + w.mounts;
    return -1;
  }
  if (kept) {
    fail_code(f, CODE_MOUNT, "rmdir", SIDE_ROOTFS, f->owned);
    return -1;
  }
  if (unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
    fail_errno(f, errno, "rmdir", SIDE_ROOTFS, NULL);
    return -1;
  }
  return 0;
}
