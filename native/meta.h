// The one metadata policy: what an entry written into a rootfs gets of its
// source's owner, mode, xattrs and times, and what becomes of device nodes.
// The tar writer (write.c, tar.c) and the directory copier (copy.c) both go
// through meta_apply and meta_device, so a tar layer and the same layer as a
// directory give the same tree in every mode (docs/design.md, "Owners and
// rootless"). umoci's restoreMetadata over an fseval is the shape.
#ifndef LAYERCOPY_META_H
#define LAYERCOPY_META_H
#include "common.h"

#include <sys/stat.h>
#include <time.h>

#include "idmap.h"
#include "xattr.h"

typedef enum {
  OWNERS_KEEP,   // exact owners (through the ID map); one that cannot be set fails
  OWNERS_XATTR,  // entries owned by this user; other owners recorded in user.rootlesscontainers (umoci --rootless)
  OWNERS_DROP,   // entries owned by this user, owners forgotten, setuid/setgid cleared (Charliecloud)
} owners_mode;

typedef enum {
  DEVICES_ERROR,  // mknod, and a refusal fails the provision
  DEVICES_EMPTY,  // an empty regular file with the node's permission bits (umoci --rootless)
  DEVICES_SKIP,   // not written (it still hides what lower layers have there)
} devices_mode;

// What the policy changed, by kind: the summary's rootless counts
// (src/core/native.cts, NativeChanges), each with the first few rels.
enum { CH_OWNERS_RECORDED, CH_OWNERS_DROPPED, CH_DEVICES_EMPTIED, CH_DEVICES_SKIPPED, CH_XATTRS_SKIPPED, CH_SPECIAL_BITS, CH_KINDS };
#define CH_PATHS 5
extern const char *const meta_change_names[CH_KINDS];

typedef struct {
  uint64_t count[CH_KINDS];
  char *paths[CH_KINDS][CH_PATHS];  // owned; the first CH_PATHS rels of each kind
} meta_changes;

void meta_changes_free(meta_changes *c);

typedef struct {
  owners_mode owners;
  devices_mode devices;
  int strict;  // any change is a failure (CODE_UNSUPPORTED_ENTRY naming it) instead
  idmap map;   // keep only: container IDs to host IDs
  meta_changes *changes;
} meta_policy;

// An entry's metadata as its source gives it.
typedef struct {
  // What is written: f d l p s, or c b (a device node made as one); a
  // device made an empty file is 'f'.
  char kind;
  uint32_t uid, gid;
  // The source is a directory layer's entry, read from disk by this
  // process: outside keep, its owner is what the entry's own
  // user.rootlesscontainers says, and this user's IDs stand for the
  // namespace's root (what a rootless extraction wrote).
  int disk;
  mode_t mode;  // permission and special bits
  struct timespec atime, mtime;
} meta_src;

// The source's xattrs: a tar entry's records (names, values, sizes), or an
// endpoint to read them from (buffers of XBUF bytes).
typedef struct {
  uint32_t n;
  char *const *names;
  char *const *values;
  const size_t *sizes;
  const xref *from;
  char *list, *val;
} meta_xattrs;

// The entry written: through fd (files, directories), or the name in the
// directory fd `dir` with `path` ("/proc/self/fd/DIR/NAME") for the l*xattr
// calls (symlinks, devices, FIFOs, sockets).
typedef struct {
  int fd;
  int dir;
  const char *name;
  const char *path;
  // What a new entry already has: chown and chmod are skipped where they
  // would change nothing ((uid_t)-1, (gid_t)-1, (mode_t)-1: unknown).
  uid_t have_uid;
  gid_t have_gid;
  mode_t have_mode;
  strip_mode strip;  // what of the entry's own xattrs goes first
  int keep_mode;     // the mode is not set (the rootfs root until the commit)
  // A directory, as non-root: a mode without u+rwx is set with it, and
  // *later gets the mode to set once nothing is written below it any more
  // (else (mode_t)-1): a 0555 directory would refuse the next layer's
  // entries, a 0000 one its children's metadata. NULL: set as it is.
  mode_t *later;
} meta_dst;

// Owner, xattrs (the owner's record among them), mode, times, in that order:
// chown clears setuid/setgid and security.capability, user.* xattrs need a
// writable mode as non-root, and every step before changes the times.
// Returns 0, or -1 with *f set.
int meta_apply(const meta_policy *p, const meta_dst *d, const meta_src *s, const meta_xattrs *x, failure *f, const char *rel);

typedef enum { DEVICE_MAKE, DEVICE_EMPTY, DEVICE_SKIP } device_action;
// What to write for a device node (type 'c' or 'b') of the source: counted,
// and refused with strict. Returns the action, or -1 with *f set.
int meta_device(const meta_policy *p, char type, uint64_t rdev, const char *rel, failure *f);
// mknod of a device node failed with err (DEVICE_MAKE): the failure, which
// says what to do when only real root could have made it. Returns -1.
int meta_device_refused(const meta_policy *p, int err, char type, uint64_t rdev, const char *rel, failure *f);

// The mode the policy gives an entry whose source mode is `mode` (the
// rootfs root, set at the commit): drop clears setuid and setgid.
mode_t meta_mode(const meta_policy *p, mode_t mode);
// What meta_mode changes of mode, counted as a change of rel (refused
// with strict): meta_apply's count, and the rootfs root's, whose mode is
// set at the commit. Returns 0, or -1 with *f set.
int meta_mode_change(const meta_policy *p, mode_t mode, const char *rel, failure *f);

// The user.rootlesscontainers value for an owner (umoci's protobuf
// Resource {uint32 uid = 1; uint32 gid = 2}, 0xFFFFFFFF "unchanged": the
// namespace's root), into buf (>= 12 bytes); its length.
size_t meta_encode_owner(uint32_t uid, uint32_t gid, unsigned char *buf);
#define ROOTLESS_XATTR "user.rootlesscontainers"
#define ROOTLESS_NOOP 0xFFFFFFFFu

#endif
