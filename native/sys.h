// System calls made through syscall(2) rather than their glibc wrappers: the
// wrappers for fstat/fstatat/mknodat carry GLIBC_2.33 symbol versions, and
// statx/renameat2/copy_file_range GLIBC_2.27-2.28, which would keep the
// prebuilt helper off older distributions (docs/design.md, prebuilds).
// struct stat is the kernel's on x86_64 and arm64 alike.
#ifndef LAYERCOPY_SYS_H
#define LAYERCOPY_SYS_H
#include "common.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// musl's headers lack some of these (the musl prebuild).
#ifndef __GLIBC__
#include <linux/stat.h>  // struct statx, STATX_*
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

static inline int lc_fstat(int fd, struct stat *st) { return (int)syscall(SYS_fstat, fd, st); }
static inline int lc_fstatat(int dir, const char *name, struct stat *st, int flags) { return (int)syscall(SYS_newfstatat, dir, name, st, flags); }
static inline int lc_mknodat(int dir, const char *name, mode_t mode, dev_t dev) { return (int)syscall(SYS_mknodat, dir, name, mode, dev); }
static inline int lc_statx(int dir, const char *name, int flags, unsigned mask, struct statx *sx) {
  return (int)syscall(SYS_statx, dir, name, flags, mask, sx);
}
static inline int lc_renameat2(int from_dir, const char *from, int to_dir, const char *to, unsigned flags) {
  return (int)syscall(SYS_renameat2, from_dir, from, to_dir, to, flags);
}
// chmod of the inode an O_PATH fd holds (fchmod refuses O_PATH fds, and
// chmod has no no-follow form): through /proc/self/fd, so a name swapped
// for a symlink after the fd was opened changes nothing.
static inline int lc_chmod_opath(int fd, mode_t mode) {
  char path[40];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return chmod(path, mode);
}
static inline ssize_t lc_copy_file_range(int in, loff_t *in_off, int out, loff_t *out_off, size_t len, unsigned flags) {
  return (ssize_t)syscall(SYS_copy_file_range, in, in_off, out, out_off, len, flags);
}

#endif
