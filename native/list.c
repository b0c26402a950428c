#include "list.h"
#include "sys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "unlock.h"

char mode_letter(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISSOCK(m)) return 's';
  return '?';
}

static char dtype_letter(unsigned char t) {
  switch (t) {
    case DT_REG:
      return 'f';
    case DT_DIR:
      return 'd';
    case DT_LNK:
      return 'l';
    case DT_CHR:
      return 'c';
    case DT_BLK:
      return 'b';
    case DT_FIFO:
      return 'p';
    case DT_SOCK:
      return 's';
    default:
      return '?';
  }
}

static int grow(char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 4096;
  while (n < need) n *= 2;
  char *p = realloc(*buf, n);
  if (!p) return -1;
  *buf = p;
  *cap = n;
  return 0;
}

void listing_free(listing *l) {
  free(l->names);
  free(l->types);
  memset(l, 0, sizeof *l);
}

int list_dir(int root_fd, const char *rel, side_t side, int unlock, listing *out, failure *f) {
  memset(out, 0, sizeof *out);
  int flags = O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_NOCTTY;
  int fd = open_beneath(root_fd, rel, flags | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open_beneath(root_fd, rel, flags);
  if (fd < 0 && errno == EACCES && unlock && unlock_dir(root_fd, rel) == 0) fd = open_beneath(root_fd, rel, flags);
  // Listed but not to be entered (0400): its entries could not be copied.
  struct stat own;
  if (fd >= 0 && unlock && lc_euid != 0 && lc_fstat(fd, &own) == 0 && own.st_uid == lc_euid && (own.st_mode & (S_IRUSR | S_IXUSR)) != (S_IRUSR | S_IXUSR) &&
      unlock_dir(root_fd, rel) == 0) {
    close(fd);
    fd = open_beneath(root_fd, rel, flags);
  }
  if (fd < 0) {
    fail_errno(f, errno, "opendir", side, rel);
    return -1;
  }
  DIR *d = fdopendir(fd);
  if (!d) {
    fail_errno(f, errno, "fdopendir", side, rel);
    close(fd);
    return -1;
  }
  size_t ncap = 0, tcap = 0;
  int rc = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) {
        fail_errno(f, errno, "readdir", side, rel);
        rc = -1;
      }
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char type = dtype_letter(e->d_type);
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      if (lc_fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        fail_errno(f, errno, "lstat", side, rel);
        rc = -1;
        break;
      }
      type = mode_letter(st.st_mode);
    }
    size_t len = strlen(e->d_name) + 1;
    if (grow(&out->names, &ncap, out->names_len + len) != 0 || grow(&out->types, &tcap, out->count + 2) != 0) {
      fail_errno(f, ENOMEM, "malloc", side, rel);
      rc = -1;
      break;
    }
    memcpy(out->names + out->names_len, e->d_name, len);
    out->names_len += len;
    out->types[out->count++] = type;
  }
  if (out->types) out->types[out->count] = '\0';
  closedir(d);
  return rc;
}
