// ID-mapped provisioning: owners, file capabilities and ACL entries shifted
// from container IDs to host IDs while they are copied (a rootfs for a
// user-namespaced container).
#ifndef LAYERCOPY_IDMAP_H
#define LAYERCOPY_IDMAP_H
#include <stddef.h>

#include "common.h"

// Ranges as in /proc/PID/uid_map: (container, host, count) triples. An
// empty side (n == 0) maps every ID to itself.
typedef struct {
  const uint32_t *uid;
  size_t nuid;  // triples
  const uint32_t *gid;
  size_t ngid;
} idmap;

// 0 and *out set, or -1 when id lies outside every range.
int map_uid(const idmap *m, uint32_t id, uint32_t *out);
int map_gid(const idmap *m, uint32_t id, uint32_t *out);
int idmap_active(const idmap *m);

// Rewrites an xattr value in place where it stores IDs: POSIX ACL entries
// (named users and groups) and security.capability (v2 becomes v3 with the
// host ID of container root as its root ID, as the kernel writes it when
// root in a user namespace sets a capability; a v3 root ID is mapped).
// *len may grow (v2 -> v3: 20 -> 24 bytes; buf has room). Returns 0, or -1
// with *f set (an ID outside the map).
int map_xattr(const idmap *m, const char *name, char *buf, size_t *len, failure *f, const char *rel);

#endif
