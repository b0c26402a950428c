#include "idmap.h"

#include <string.h>

static int map_one(const uint32_t *r, size_t n, uint32_t id, uint32_t *out) {
  if (n == 0) {
    *out = id;
    return 0;
  }
  for (size_t i = 0; i < n; i++) {
    uint32_t c = r[3 * i], h = r[3 * i + 1], count = r[3 * i + 2];
    if (id >= c && (uint64_t)id - c < count) {
      *out = h + (id - c);
      return 0;
    }
  }
  return -1;
}

int map_uid(const idmap *m, uint32_t id, uint32_t *out) { return map_one(m->uid, m->nuid, id, out); }
int map_gid(const idmap *m, uint32_t id, uint32_t *out) { return map_one(m->gid, m->ngid, id, out); }
int idmap_active(const idmap *m) { return m->nuid > 0 || m->ngid > 0; }

static uint32_t le32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static int unmapped(failure *f, const char *code, uint32_t id, const char *rel) {
  fail_code(f, code, "setxattr", SIDE_ROOTFS, rel);
  f->id = id;
  return -1;
}

// linux/capability.h and linux/posix_acl_xattr.h, little-endian on disk.
#define VFS_CAP_REVISION_MASK 0xFF000000u
#define VFS_CAP_REVISION_2 0x02000000u
#define VFS_CAP_REVISION_3 0x03000000u
#define XATTR_CAPS_SZ_2 20
#define XATTR_CAPS_SZ_3 24
#define ACL_USER 0x02
#define ACL_GROUP 0x08

int map_xattr(const idmap *m, const char *name, char *buf, size_t *len, failure *f, const char *rel) {
  unsigned char *p = (unsigned char *)buf;
  if (strcmp(name, "security.capability") == 0 && m->nuid > 0) {
    if (*len < 4) return 0;
    uint32_t magic = le32(p), rev = magic & VFS_CAP_REVISION_MASK;
    uint32_t root;
    if (rev == VFS_CAP_REVISION_2 && *len == XATTR_CAPS_SZ_2) {
      // Container root owns the capability: the v3 root ID is its host ID.
      if (map_uid(m, 0, &root) != 0) return unmapped(f, CODE_UNMAPPED_UID, 0, rel);
      put32(p, (magic & ~VFS_CAP_REVISION_MASK) | VFS_CAP_REVISION_3);
      put32(p + XATTR_CAPS_SZ_2, root);
      *len = XATTR_CAPS_SZ_3;
    } else if (rev == VFS_CAP_REVISION_3 && *len == XATTR_CAPS_SZ_3) {
      uint32_t id = le32(p + XATTR_CAPS_SZ_2);
      if (map_uid(m, id, &root) != 0) return unmapped(f, CODE_UNMAPPED_UID, id, rel);
      put32(p + XATTR_CAPS_SZ_2, root);
    }
    return 0;
  }
  if (strcmp(name, "system.posix_acl_access") == 0 || strcmp(name, "system.posix_acl_default") == 0) {
    for (size_t off = 4; off + 8 <= *len; off += 8) {
      uint16_t tag = le16(p + off);
      uint32_t id = le32(p + off + 4), out;
      if (tag == ACL_USER) {
        if (map_uid(m, id, &out) != 0) return unmapped(f, CODE_UNMAPPED_UID, id, rel);
        put32(p + off + 4, out);
      } else if (tag == ACL_GROUP) {
        if (map_gid(m, id, &out) != 0) return unmapped(f, CODE_UNMAPPED_GID, id, rel);
        put32(p + off + 4, out);
      }
    }
  }
  return 0;
}
