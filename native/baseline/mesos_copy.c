// The Mesos copy backend's provision (src/slave/containerizer/mesos/
// provisioner/backends/copy.cpp; ../shared/reference), as a C program: the
// baseline `layercopy bench` times against, at the speed Mesos runs it.
// Per layer: an fts walk (FTS_NOCHDIR | FTS_PHYSICAL, stat per entry, as
// copy.cpp opens it) that removes whiteout targets and conflicting rootfs
// entries, then `cp -aT LAYER ROOTFS`, then the copied whiteout markers are
// unlinked. A walk in Node or Python runs 1.3-2x slower than this one
// (../shared/field-notes.md), which flattered every ratio against it.
//
// Usage: mesos-copy LAYER... ROOTFS   (ROOTFS must not exist)
// Not shipped as a tool: the bench compiles it with cc; it follows symlinks
// where copy.cpp does (os::stat::isdir), so never run it on hostile layers.
#define _GNU_SOURCE
#include <errno.h>
#include <fts.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what, const char *path) {
  fprintf(stderr, "mesos-copy: %s '%s': %s\n", what, path, strerror(errno));
  exit(1);
}

static char *join(const char *a, const char *b) {
  char *p;
  if (asprintf(&p, "%s/%s", a, b) < 0) die("asprintf", b);
  return p;
}

static int exists(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0;
}

// os::stat::isdir follows symlinks by default, as copy.cpp calls it.
static int isdir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int islink(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  return flag == FTW_DP ? rmdir(p) : unlink(p);
}

// os::rmdir(path) (recursive) and os::rm(path).
static void remove_path(const char *p) {
  if (isdir(p)) {
    if (nftw(p, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) die("remove directory", p);
  } else if (unlink(p) != 0) {
    die("remove file", p);
  }
}

static void provision_layer(const char *layer, const char *rootfs) {
  char *source[] = {(char *)layer, NULL};
  FTS *tree = fts_open(source, FTS_NOCHDIR | FTS_PHYSICAL, NULL);
  if (!tree) die("open", layer);
  size_t n = 0, cap = 0;
  char **whiteouts = NULL;
  size_t llen = strlen(layer);
  for (FTSENT *node = fts_read(tree); node; node = fts_read(tree)) {
    if (node->fts_info == FTS_DNR || node->fts_info == FTS_ERR || node->fts_info == FTS_NS) {
      errno = node->fts_errno;
      die("read", node->fts_path);
    }
    if (node->fts_info == FTS_DP || node->fts_level == 0) continue;
    const char *layer_path = node->fts_path + llen + 1;
    char *rootfs_path = join(rootfs, layer_path);
    char *remove = NULL;
    if (node->fts_info == FTS_F && strncmp(node->fts_name, ".wh.", 4) == 0) {
      if (n == cap) {
        cap = cap ? cap * 2 : 64;
        whiteouts = realloc(whiteouts, cap * sizeof *whiteouts);
        if (!whiteouts) die("realloc", layer);
      }
      whiteouts[n++] = strdup(rootfs_path);
      // fts_name is a copy of the last component, not a pointer into fts_path.
      const char *slash = strrchr(layer_path, '/');
      char *dir;
      if (slash) {
        char *parent = strndup(layer_path, (size_t)(slash - layer_path));
        dir = join(rootfs, parent);
        free(parent);
      } else {
        dir = strdup(rootfs);
      }
      remove = strcmp(node->fts_name, ".wh..wh..opq") == 0 ? strdup(dir) : join(dir, node->fts_name + 4);
      free(dir);
    } else if (exists(rootfs_path)) {
      int fts_is_dir = node->fts_info == FTS_D || node->fts_info == FTS_DC;
      if (isdir(rootfs_path) != fts_is_dir || islink(rootfs_path)) remove = strdup(rootfs_path);
    }
    if (remove && exists(remove)) remove_path(remove);
    free(remove);
    free(rootfs_path);
  }
  if (errno != 0) die("traverse", layer);
  fts_close(tree);

  pid_t pid = fork();
  if (pid < 0) die("fork", layer);
  if (pid == 0) {
    execlp("cp", "cp", "-aT", layer, rootfs, (char *)NULL);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) < 0) die("waitpid", layer);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "mesos-copy: cp -aT %s %s failed\n", layer, rootfs);
    exit(1);
  }
  for (size_t i = 0; i < n; i++) {
    if (unlink(whiteouts[i]) != 0 && errno != ENOENT) die("remove whiteout", whiteouts[i]);
    free(whiteouts[i]);
  }
  free(whiteouts);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mesos-copy LAYER... ROOTFS\n");
    return 2;
  }
  const char *rootfs = argv[argc - 1];
  if (exists(rootfs)) {
    fprintf(stderr, "mesos-copy: Rootfs is already provisioned\n");
    return 1;
  }
  if (mkdir(rootfs, 0755) != 0) die("mkdir", rootfs);
  for (int i = 1; i < argc - 1; i++) provision_layer(argv[i], rootfs);
  return 0;
}
