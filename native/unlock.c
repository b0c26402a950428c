#include "unlock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "sys.h"

int unlock_open_file(int dir, const char *name, int flags, mode_t *orig) {
  // Through an O_PATH fd: the name is resolved once, never following a
  // symlink, and chmod reaches the inode through /proc/self/fd.
  int p = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (p < 0 || lc_fstat(p, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != lc_euid) {
    if (p >= 0) close(p);
    errno = EACCES;
    return -1;
  }
  char path[40];
  snprintf(path, sizeof path, "/proc/self/fd/%d", p);
  int fd = -1;
  // Another worker may restore the mode of the same inode (a file copied in
  // ranges) between the chmod and the open: tried again.
  for (int attempt = 0; attempt < 3 && fd < 0; attempt++) {
    if (chmod(path, (st.st_mode & 07777) | S_IRUSR) != 0) break;
    fd = open(path, (flags & ~O_NOFOLLOW) | O_CLOEXEC);
    if (fd < 0 && errno != EACCES) break;
  }
  int e = errno;
  if (fd < 0) (void)chmod(path, st.st_mode & 07777);
  close(p);
  *orig = st.st_mode & 07777;
  errno = e;
  return fd;
}

typedef struct {
  int root;
  char *rel;
  dev_t dev;
  ino_t ino;
  mode_t mode;
} unlocked;

// Shared by every thread: the planner unlocks on the main thread, workers
// read the modes back (dir_meta).
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unlocked *table;
static size_t used, cap;

int unlock_lookup(dev_t dev, ino_t ino, mode_t *orig) {
  int found = 0;
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < used && !found; i++) {
    if (table[i].dev == dev && table[i].ino == ino) {
      *orig = table[i].mode;
      found = 1;
    }
  }
  pthread_mutex_unlock(&lock);
  return found;
}

int unlock_dir(int root, const char *rel) {
  int p = open_beneath(root, rel, O_PATH | O_DIRECTORY);
  if (p < 0) return -1;
  struct stat st;
  mode_t known;
  if (lc_fstat(p, &st) != 0 || st.st_uid != lc_euid || unlock_lookup(st.st_dev, st.st_ino, &known)) {
    close(p);
    errno = EACCES;
    return -1;
  }
  char *copy = strdup(rel);
  pthread_mutex_lock(&lock);
  if (copy && used == cap) {
    size_t n = cap ? cap * 2 : 16;
    unlocked *grown = realloc(table, n * sizeof *grown);
    if (grown) {
      table = grown;
      cap = n;
    }
  }
  int rc = -1;
  if (!copy || used == cap) {
    errno = ENOMEM;
  } else {
    if ((rc = lc_chmod_opath(p, (st.st_mode & 07777) | S_IRUSR | S_IXUSR)) == 0) {
      table[used++] = (unlocked){root, copy, st.st_dev, st.st_ino, st.st_mode & 07777};
      copy = NULL;
    }
  }
  int e = errno;
  pthread_mutex_unlock(&lock);
  free(copy);
  close(p);
  errno = e;
  return rc;
}

static size_t depth(const char *rel) {
  size_t d = rel[0] ? 1 : 0;
  for (; *rel; rel++) d += *rel == '/';
  return d;
}

int relock_dirs(int root, failure *f) {
  int rc = 0;
  pthread_mutex_lock(&lock);
  for (;;) {
    // The deepest of root's left: a parent relocked first would shut it out.
    size_t best = used;
    for (size_t i = 0; i < used; i++)
      if (table[i].root == root && (best == used || depth(table[i].rel) > depth(table[best].rel))) best = i;
    if (best == used) break;
    unlocked u = table[best];
    table[best] = table[--used];
    int p = open_beneath(root, u.rel, O_PATH | O_DIRECTORY);
    struct stat st;
    // Another inode there by now (the layer changed): left as it is.
    int e = p < 0 || lc_fstat(p, &st) != 0 ? errno : st.st_dev != u.dev || st.st_ino != u.ino ? ESTALE : lc_chmod_opath(p, u.mode) != 0 ? errno : 0;
    if (e != 0 && rc == 0) {
      fail_errno(f, e, "chmod", SIDE_LAYER, NULL);
      f->owned = u.rel;
      f->rel = u.rel;
      u.rel = NULL;
      rc = -1;
    }
    if (p >= 0) close(p);
    free(u.rel);
  }
  pthread_mutex_unlock(&lock);
  return rc;
}
