#include "meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sys.h"

const char *const meta_change_names[CH_KINDS] = {"ownersRecorded", "ownersDropped", "devicesEmptied", "devicesSkipped", "xattrsSkipped", "specialBitsCleared"};

void meta_changes_free(meta_changes *c) {
  for (int k = 0; k < CH_KINDS; k++) {
    for (int i = 0; i < CH_PATHS; i++) {
      free(c->paths[k][i]);
      c->paths[k][i] = NULL;
    }
    c->count[k] = 0;
  }
}

// A change of kind k at rel: counted, or with strict a failure saying what
// would have changed. Returns 0, or -1 with *f set.
static int change(const meta_policy *p, int k, const char *rel, failure *f, const char *fmt, ...) {
  if (p->strict) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fail_code(f, CODE_UNSUPPORTED_ENTRY, "policy", SIDE_ROOTFS, rel);
    free(f->detail);
    size_t len = strlen(what) + 32;
    if ((f->detail = malloc(len))) snprintf(f->detail, len, "%s (--strict)", what);
    return -1;
  }
  meta_changes *c = p->changes;
  if (!c) return 0;
  if (c->count[k] < CH_PATHS) c->paths[k][c->count[k]] = strdup(rel);
  c->count[k]++;
  return 0;
}

static int meta_fail(failure *f, const char *code, int err, const char *syscall, const char *rel, const char *fmt, ...) {
  if (code)
    fail_code(f, code, syscall, SIDE_ROOTFS, rel);
  else
    fail_errno(f, err, syscall, SIDE_ROOTFS, rel);
  va_list ap;
  va_start(ap, fmt);
  fail_vdetail(f, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *kind_name(char kind) {
  switch (kind) {
    case 'l':
      return "symlink";
    case 'p':
      return "FIFO";
    case 's':
      return "socket";
    case 'c':
      return "character device";
    case 'b':
      return "block device";
    case 'd':
      return "directory";
    default:
      return "file";
  }
}

// ---- user.rootlesscontainers ---------------------------------------------

static size_t put_varint(unsigned char *p, uint32_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (unsigned char)v;
  return n;
}

size_t meta_encode_owner(uint32_t uid, uint32_t gid, unsigned char *buf) {
  // As umoci writes it: both fields always (proto3 leaves out zeros, and
  // neither is ever 0: root is "unchanged").
  size_t n = 0;
  buf[n++] = 0x08;
  n += put_varint(buf + n, uid == 0 ? ROOTLESS_NOOP : uid);
  buf[n++] = 0x10;
  n += put_varint(buf + n, gid == 0 ? ROOTLESS_NOOP : gid);
  return n;
}

static int get_varint(const unsigned char *p, size_t len, size_t *at, uint64_t *v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *at < len; shift += 7) {
    unsigned char b = p[(*at)++];
    *v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return 0;
  }
  return -1;
}

// Applies a user.rootlesscontainers value to an owner: a field absent is 0
// (proto3), 0xFFFFFFFF leaves the owner as it is. A value that does not
// parse is ignored (the entry keeps its owner on disk).
static void decode_owner(const unsigned char *p, size_t len, uint32_t *uid, uint32_t *gid) {
  uint32_t u = 0, g = 0;
  for (size_t at = 0; at < len;) {
    uint64_t key, v;
    if (get_varint(p, len, &at, &key) != 0) return;
    switch (key & 7) {
      case 0:
        if (get_varint(p, len, &at, &v) != 0) return;
        if (key >> 3 == 1) u = (uint32_t)v;
        if (key >> 3 == 2) g = (uint32_t)v;
        break;
      case 1:
        at += 8;
        break;
      case 2:
        if (get_varint(p, len, &at, &v) != 0 || v > len - at) return;
        at += (size_t)v;
        break;
      case 5:
        at += 4;
        break;
      default:
        return;
    }
    if (at > len) return;
  }
  if (u != ROOTLESS_NOOP) *uid = u;
  if (g != ROOTLESS_NOOP) *gid = g;
}

// ---- what the kernel refused -----------------------------------------------

static const char *fs_name(long type) {
  switch ((unsigned long)type) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x858458F6:
      return "ramfs";
    case 0x6969:
      return "nfs";
    case 0x794C7630:
      return "overlayfs";
    case 0x65735546:
      return "fuse";
    case 0xFF534D42:
    case 0xFE534D42:
      return "cifs/smb";
    case 0x2FC12FC1:
      return "zfs";
    case 0xF2F52010:
      return "f2fs";
    case 0x4D44:
      return "vfat";
    default:
      return NULL;
  }
}

static int unsupported_user_xattr(const meta_dst *d, int err, const char *name, failure *f, const char *rel) {
  struct statfs sf;
  int have = (d->fd >= 0 ? fstatfs(d->fd, &sf) : statfs(d->path, &sf)) == 0;
  const char *fs = have ? fs_name((long)sf.f_type) : NULL;
  char type[40];
  if (!fs) snprintf(type, sizeof type, have ? "type 0x%lx" : "unknown type", have ? (unsigned long)sf.f_type : 0ul);
  return meta_fail(f, NULL, err, d->fd >= 0 ? "fsetxattr" : "lsetxattr", rel,
                   "this filesystem (%s) cannot hold user.* xattrs (setting %s: %s), which --owners xattr needs to record owners "
                   "(tmpfs holds them from Linux 6.6); use --owners drop, or a filesystem that can",
                   fs ? fs : type, name, strerror(err));
}

// Whether id is in /proc/self/<side>_map; the map, one line, into text.
static int mapped_here(const char *side, uint32_t id, char *text, size_t size) {
  char file[32];
  snprintf(file, sizeof file, "/proc/self/%s_map", side);
  FILE *fp = fopen(file, "re");
  int found = 0;
  size_t used = 0;
  text[0] = '\0';
  unsigned long c, h, n;
  while (fp && fscanf(fp, "%lu %lu %lu", &c, &h, &n) == 3) {
    if (id >= c && (uint64_t)id - c < n) found = 1;
    int w = snprintf(text + used, size - used, "%s%lu %lu %lu", used ? ", " : "", c, h, n);
    if (w > 0 && (size_t)w < size - used) used += (size_t)w;
  }
  if (fp) fclose(fp);
  return found;
}

// chown refused an owner in keep mode: EINVAL, an ID this user namespace
// does not map; EPERM, not root (only root gives files away).
static int owner_refused(const meta_dst *d, int err, uint32_t uid, uint32_t gid, failure *f, const char *rel) {
  char map[256];
  if (err == EINVAL) {
    int uid_ok = mapped_here("uid", uid, map, sizeof map);
    if (uid_ok) mapped_here("gid", gid, map, sizeof map);
    const char *side = uid_ok ? "gid" : "uid";
    meta_fail(f, uid_ok ? CODE_UNMAPPED_GID : CODE_UNMAPPED_UID, 0, "chown", rel,
              "%s %u is not mapped in this user namespace (/proc/self/%s_map: %s); --owners xattr records such owners instead", side, uid_ok ? gid : uid, side,
              map);
    f->id = uid_ok ? gid : uid;
    return -1;
  }
  if (err == EPERM) {
    meta_fail(f, uid != lc_euid ? CODE_UNMAPPED_UID : CODE_UNMAPPED_GID, 0, "chown", rel,
              "owner %u:%u cannot be set: only root may give files away (chown: EPERM); --owners xattr records owners instead", uid, gid);
    f->id = uid != lc_euid ? uid : gid;
    return -1;
  }
  fail_errno(f, err, d->fd >= 0 ? "fchown" : "lchown", SIDE_ROOTFS, rel);
  return -1;
}

// ---- the steps ---------------------------------------------------------------

// A user.* xattr on our own file or directory without u+w fails with EACCES
// as non-root: u+w is added (the mode is set after the xattrs).
static int make_writable(const meta_dst *d) {
  struct stat st;
  if ((d->fd >= 0 ? lc_fstat(d->fd, &st) : lc_fstatat(d->dir, d->name, &st, AT_SYMLINK_NOFOLLOW)) != 0) return 0;
  if (!(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) || (st.st_mode & S_IWUSR)) return 0;
  mode_t mode = (st.st_mode & 07777) | S_IWUSR;
  return (d->fd >= 0 ? fchmod(d->fd, mode) : fchmodat(d->dir, d->name, mode, 0)) == 0;
}

// One xattr set by the rule of the mode: keep sets every xattr or fails;
// xattr and drop skip what this user may not set or the filesystem cannot
// hold (counted), but xattr fails where user.* cannot be held at all. No
// mode puts user.* on what the kernel refuses it for (all but files and
// directories). *forced: the mode was changed and must be set again.
static int put_xattr(const meta_policy *p, const meta_dst *d, xref dst, char kind, const char *name, const void *v, size_t len, int *forced, failure *f,
                     const char *rel) {
  int user = strncmp(name, "user.", 5) == 0;
  if (user && kind != 'f' && kind != 'd')
    return change(p, CH_XATTRS_SKIPPED, rel, f, "xattr %s not set: a %s cannot hold user.* xattrs", name, kind_name(kind));
  if (xattr_set(dst, name, v, len) == 0) return 0;
  int e = errno;
  if (e == EACCES && !*forced && make_writable(d)) {
    *forced = 1;
    if (xattr_set(dst, name, v, len) == 0) return 0;
    e = errno;
  }
  const char *call = dst.path ? "lsetxattr" : "fsetxattr";
  if (p->owners == OWNERS_KEEP) return meta_fail(f, NULL, e, call, rel, "xattr %s cannot be set (--owners keep sets every xattr)", name);
  if (e == ENOTSUP || e == EOPNOTSUPP) {
    if (user && p->owners == OWNERS_XATTR) return unsupported_user_xattr(d, e, name, f, rel);
    return change(p, CH_XATTRS_SKIPPED, rel, f, "xattr %s not set: the filesystem cannot hold it", name);
  }
  if (e == EPERM || e == EACCES) return change(p, CH_XATTRS_SKIPPED, rel, f, "xattr %s not set: this user may not set it (%s)", name, strerror(e));
  fail_errno(f, e, call, SIDE_ROOTFS, rel);
  return -1;
}

static int in_names(const char *list, ssize_t n, const char *name) {
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
    if (strcmp(list + i, name) == 0) return 1;
  return 0;
}

// The source's xattrs, each through put_xattr; user.rootlesscontainers is
// copied as any other in keep, and is the policy's own outside it.
static int put_xattrs(const meta_policy *p, const meta_dst *d, xref dst, const meta_src *s, const meta_xattrs *x, const char *list, ssize_t n, int *forced,
                      failure *f, const char *rel) {
  if (!x->from) {
    // A tar entry's records: written into a layer's scratch directory,
    // never ID-mapped there (the copy out of it maps them).
    for (uint32_t i = 0; i < x->n; i++) {
      if (p->owners != OWNERS_KEEP && strcmp(x->names[i], ROOTLESS_XATTR) == 0) continue;
      if (put_xattr(p, d, dst, s->kind, x->names[i], x->values[i], x->sizes[i], forced, f, rel) != 0) return -1;
    }
    return 0;
  }
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1) {
    const char *name = list + i;
    if (p->owners != OWNERS_KEEP && strcmp(name, ROOTLESS_XATTR) == 0) continue;
    ssize_t vn = xattr_get(*x->from, name, x->val);
    if (vn < 0) {
      if (errno == ENODATA || errno == ENOTSUP) continue;
      fail_errno(f, errno, x->from->path ? "lgetxattr" : "fgetxattr", SIDE_LAYER, rel);
      return -1;
    }
    size_t len = (size_t)vn;
    // A v2 capability grows by 4 bytes: val has XBUF - 1 >= 64 KiB of room.
    if (idmap_active(&p->map) && map_xattr(&p->map, name, x->val, &len, f, rel) != 0) return -1;
    if (put_xattr(p, d, dst, s->kind, name, x->val, len, forced, f, rel) != 0) return -1;
  }
  return 0;
}

// xattr and drop: what becomes of an owner other than the namespace's root.
static int record_owner(const meta_policy *p, const meta_dst *d, xref dst, const meta_src *s, uint32_t uid, uint32_t gid, int had_record, int *forced,
                        failure *f, const char *rel) {
  int holds = s->kind == 'f' || s->kind == 'd';
  if (uid == 0 && gid == 0) {
    // A directory over a lower one (layered) may carry the lower's record.
    if (p->owners == OWNERS_XATTR && holds && had_record && d->strip != STRIP_NONE) return xattr_remove_one(dst, ROOTLESS_XATTR, f, rel);
    return 0;
  }
  if (p->owners == OWNERS_DROP) return change(p, CH_OWNERS_DROPPED, rel, f, "owner %u:%u not kept (--owners drop)", uid, gid);
  if (!holds) return change(p, CH_OWNERS_DROPPED, rel, f, "owner %u:%u not kept: a %s cannot hold user.rootlesscontainers", uid, gid, kind_name(s->kind));
  if (change(p, CH_OWNERS_RECORDED, rel, f, "owner %u:%u recorded in user.rootlesscontainers, not set (--owners xattr)", uid, gid) != 0) return -1;
  unsigned char buf[16];
  size_t len = meta_encode_owner(uid, gid, buf);
  if (xattr_set(dst, ROOTLESS_XATTR, buf, len) == 0) return 0;
  int e = errno;
  if (e == EACCES && !*forced && make_writable(d)) {
    *forced = 1;
    if (xattr_set(dst, ROOTLESS_XATTR, buf, len) == 0) return 0;
    e = errno;
  }
  if (e == ENOTSUP || e == EOPNOTSUPP) return unsupported_user_xattr(d, e, ROOTLESS_XATTR, f, rel);
  fail_errno(f, e, dst.path ? "lsetxattr" : "fsetxattr", SIDE_ROOTFS, rel);
  return -1;
}

int meta_apply(const meta_policy *p, const meta_dst *d, const meta_src *s, const meta_xattrs *x, failure *f, const char *rel) {
  xref dst = d->fd >= 0 ? (xref){d->fd, NULL} : (xref){-1, d->path};
  ssize_t n = 0;
  if (x->from && (n = xattr_list(*x->from, x->list)) < 0) {
    if (errno != ENOTSUP) {
      fail_errno(f, errno, x->from->path ? "llistxattr" : "flistxattr", SIDE_LAYER, rel);
      return -1;
    }
    n = 0;
  }
  uint32_t uid = s->uid, gid = s->gid;
  int had_record = x->from && in_names(x->list, n, ROOTLESS_XATTR);
  int chowned = 0, forced = 0;
  if (p->owners == OWNERS_KEEP) {
    uint32_t hu, hg;
    if (map_uid(&p->map, uid, &hu) != 0 || map_gid(&p->map, gid, &hg) != 0) {
      int bad_uid = map_uid(&p->map, uid, &hu) != 0;
      fail_code(f, bad_uid ? CODE_UNMAPPED_UID : CODE_UNMAPPED_GID, "chown", SIDE_LAYER, rel);
      f->id = bad_uid ? uid : gid;
      return -1;
    }
    if (hu != d->have_uid || hg != d->have_gid) {
      if ((d->fd >= 0 ? fchown(d->fd, hu, hg) : fchownat(d->dir, d->name, hu, hg, AT_SYMLINK_NOFOLLOW)) != 0) return owner_refused(d, errno, hu, hg, f, rel);
      chowned = 1;
    }
  } else if (s->disk) {
    // This user's own IDs are the namespace's root; the entry's own record
    // (a tree umoci or layercopy extracted rootless) names its true owner.
    if (uid == lc_euid) uid = 0;
    if (gid == lc_egid) gid = 0;
    ssize_t vn = had_record ? xattr_get(*x->from, ROOTLESS_XATTR, x->val) : 0;
    if (vn > 0) {
      decode_owner((const unsigned char *)x->val, (size_t)vn, &uid, &gid);
    } else if (uid == lc_unknown_uid || gid == lc_unknown_gid) {
      // An owner this namespace does not map: recording the overflow ID
      // would name nobody as the owner of root's files. What is known of
      // the owner (a mapped uid or gid) stays, to be recorded.
      const char *which = uid == lc_unknown_uid && gid == lc_unknown_gid ? "uid and gid" : uid == lc_unknown_uid ? "uid" : "gid";
      if (change(p, CH_OWNERS_DROPPED, rel, f,
                 "owner %u:%u not kept (its %s): it is how this user namespace shows an owner it does not map (the true one is unknown here)", uid, gid,
                 which) != 0)
        return -1;
      if (uid == lc_unknown_uid) uid = 0;
      if (gid == lc_unknown_gid) gid = 0;
    }
  }
  if (d->strip != STRIP_NONE && x->from && xattr_strip(dst, d->strip, x->list, n, x->val, f, rel) != 0) return -1;
  if (put_xattrs(p, d, dst, s, x, x->list, n, &forced, f, rel) != 0) return -1;
  if (p->owners != OWNERS_KEEP && record_owner(p, d, dst, s, uid, gid, had_record, &forced, f, rel) != 0) return -1;
  if (d->later) *d->later = (mode_t)-1;
  if (s->kind != 'l' && !d->keep_mode) {
    mode_t mode = meta_mode(p, s->mode);
    if (meta_mode_change(p, s->mode, rel, f) != 0) return -1;
    if (d->later && lc_euid != 0 && (mode & S_IRWXU) != S_IRWXU) {
      *d->later = mode;
      mode |= S_IRWXU;
    }
    if ((forced || chowned || mode != d->have_mode) && (d->fd >= 0 ? fchmod(d->fd, mode) : fchmodat(d->dir, d->name, mode, 0)) != 0) {
      fail_errno(f, errno, d->fd >= 0 ? "fchmod" : "chmod", SIDE_ROOTFS, rel);
      return -1;
    }
  }
  struct timespec ts[2] = {s->atime, s->mtime};
  if ((d->fd >= 0 ? futimens(d->fd, ts) : utimensat(d->dir, d->name, ts, AT_SYMLINK_NOFOLLOW)) != 0) {
    fail_errno(f, errno, d->fd >= 0 ? "futimens" : "utimensat", SIDE_ROOTFS, rel);
    return -1;
  }
  return 0;
}

mode_t meta_mode(const meta_policy *p, mode_t mode) {
  mode &= 07777;
  return p->owners == OWNERS_DROP ? mode & ~(mode_t)(S_ISUID | S_ISGID) : mode;
}

int meta_mode_change(const meta_policy *p, mode_t mode, const char *rel, failure *f) {
  mode_t given = mode & 07777, written = meta_mode(p, mode);
  if (written == given) return 0;
  return change(p, CH_SPECIAL_BITS, rel, f, "mode %04o written %04o: setuid/setgid cleared (--owners drop)", (unsigned)given, (unsigned)written);
}

int meta_device(const meta_policy *p, char type, uint64_t rdev, const char *rel, failure *f) {
  if (p->devices == DEVICES_ERROR) return DEVICE_MAKE;
  int empty = p->devices == DEVICES_EMPTY;
  char numbers[48] = " (a hardlink to one)";
  if (rdev != UINT64_MAX) snprintf(numbers, sizeof numbers, " (%u, %u)", major((dev_t)rdev), minor((dev_t)rdev));
  if (change(p, empty ? CH_DEVICES_EMPTIED : CH_DEVICES_SKIPPED, rel, f, "a %s%s %s", kind_name(type), numbers,
             empty ? "written as an empty file (--devices empty)" : "left out (--devices skip)") != 0)
    return -1;
  return empty ? DEVICE_EMPTY : DEVICE_SKIP;
}

int meta_device_refused(const meta_policy *p, int err, char type, uint64_t rdev, const char *rel, failure *f) {
  if (err != EPERM) {
    fail_errno(f, err, "mknod", SIDE_ROOTFS, rel);
    return -1;
  }
  return meta_fail(f, CODE_UNSUPPORTED_ENTRY, 0, "mknod", rel,
                   "a %s (%u, %u): only real root can make one (mknod: EPERM); --devices empty writes it as an empty file, --devices skip leaves it out",
                   kind_name(type), major((dev_t)rdev), minor((dev_t)rdev));
}
