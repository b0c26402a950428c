// A tar stream written beneath a root fd as it arrives (src/images/extract.ts
// feeds it decompressed chunks). In C rather than tar-stream plus a native
// call per entry: on the overlapping Debian image that pair spent a third of
// the extraction's CPU in V8 (streams, promises, and JIT compiles repeated
// on every extraction thread); docs/design.md, "Why a native tar reader".
//
// The format rules follow Go's archive/tar, which containerd and umoci
// read layers with. Those of headers (checksums, numbers, names, the GNU
// and PAX records, which types carry data, where the archive ends) live in
// tarhdr.c, which the scanner of archive members (tarscan.c) shares: a
// header-only type (link, symlink, devices, directory, FIFO) has no data
// whatever its size field says; PAX and GNU long-name records are capped at
// 1 MiB; two zero blocks end the archive (so does the end of the data at a
// header's boundary or in the last file's padding) and a lone zero block
// before a header is an error; both checksums (unsigned and signed bytes) are
// accepted. The meanings of extract.ts's comment hold: a name given twice
// is the later entry, a directory over a directory keeps its children (a
// directory over anything else is opaque: clobbered), missing parents are
// made 0755 (a later header sets them), a parent that is a symlink or file
// of the layer is replaced by a directory (opaque too), `..` climbs
// are errors, and nothing is resolved through a symlink: every parent is
// opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS).
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "paths.h"
#include "claims.h"
#include "sha256.h"
#include "tarpipe.h"
#include "lanes.h"
#include "remove.h"
#include "sparse.h"
#include "sys.h"
#include "tarhdr.h"
#include "whiteout.h"
#include "write.h"

#define BLOCK TARHDR_BLOCK
#define MAX_SPECIAL TARHDR_MAX_SPECIAL

typedef struct {
  char *rel;    // NULL: empty slot (names are never removed: see forget)
  int dir;      // index in dirs while its header's metadata waits (an open directory, or the root), or -1
  int restore;  // index in restores while its times (and mode) are to be set again, or -1
  // Epochs (tar_reader.epoch): when the name last became a standing
  // directory, and when it was last replaced. What was born under it
  // before that replacement is gone with it.
  uint64_t born, killed;
  char standing;
  char placeholder;  // a hidden file made without data (claims): a hardlink to it needs its data
  char skipped;      // a device node left out (--devices skip), its type letter: .wh.NAME stands in for it
  char marker;       // TAR_DIRECT: a whiteout marker not written (direct_marker), what stands there
  char headed;       // a directory header gave it metadata
  char closed;       // that metadata is set: the archive left it (leave_dirs)
  char implied;      // made by ensure_parent: counted in tar_reader.implied
} slot;

// A closed directory the archive came back to: what its header set, to be set again at the end.
typedef struct {
  char *rel;
  uint64_t born;
  struct timespec times[2];
  mode_t mode;  // (mode_t)-1: not changed
} restore_rec;

// slot.marker: a file marker, a file marker naming nothing (.wh., .wh.., .wh...), anything else.
enum { MARKER_FILE = 'f', MARKER_NOTHING = 'n', MARKER_OTHER = 'x' };

typedef struct {
  char *rel;
  write_meta m;
  int live;
  uint64_t born;
} dir_rec;

// One entry's fields, from its header and the PAX or GNU records before it.
typedef struct {
  char type;
  char *name, *link;
  char *rel;  // name cleaned
  uint64_t size;
  write_meta m;
  int64_t devmajor, devminor;
  uint32_t xcap;
  // A sparse file: 0 no, 1 its map is known (old GNU, PAX 0.0 and 0.1),
  // 2 its map starts its data (PAX 1.0); GNU.sparse.name replaces the name.
  int sparse;
  sparse_map map;
  char *sparse_name;
} entry;

enum { S_HEADER, S_DATA, S_SPECIAL, S_PAD, S_END, S_SPARSE_EXT, S_SPARSE_MAP };

// Names the table holds before it lets go of those not needed (evict): 128k
// slots of 48 bytes at half load and their names, ~15 MB.
#define NAMES_CAP (128 * 1024)
// The bytes of names of implied parents (directories without a header) the
// table may hold: each is held by its whole path, so one name N
// directories deep costs ~N^2/2 bytes no header paid for. A 200 KB header
// 100,000 directories deep would have held ~10 GB, and ran past 30 s (its
// parents' names hashed one by one); 50 paths 1,000 deep in 13 KB of gzip
// held 3 GB. Legitimate layers hold little here: their directories have
// headers. LAYERCOPY_TAR_IMPLIED_BYTES changes it (tests).
#define IMPLIED_BYTES_CAP ((size_t)64 << 20)

// Lanes (native/lanes.h): a directory whose entries a lane makes, with its
// own fd (the parent cache closes its fd when the archive moves on).
#define LANES 2
#define LANE_DEPTH 1024
#define LANE_DIRS 64
// Simple entries read before the lanes start: a small layer starts no thread.
#define LANES_AFTER 256
// The largest file a lane writes, in an uncompressed tar (TAR_PLAIN): its
// data is copied into the task (at most LANES * LANE_DEPTH of them wait:
// 32 MiB). A plain tar of 100k files of 0-4 KB: 0.55 s against 0.63 s with
// empty files only on lanes. Through gzip or zstd the inflating thread sets
// the pace, and a lane writing data was one more thread on the two cores
// (a one-layer gzip image 1.02x the wall time): there only empty files go.
#define LANE_DATA (16 * 1024)
typedef struct {
  char *rel;
  int fd;
  int lane;
  uint64_t last;  // the sequence number of its last task on the lane
} lane_dir;
// Tasks are cut from blocks, and a block freed by whichever thread
// releases its last task: freed one by one on the lanes, tasks malloc'd
// by the reader kept glibc's arena lock busy (~11% of the lanes' CPU).
#define TASK_BLOCK (256 * 1024)
typedef struct {
  int refs;  // its tasks not yet released, and the reader's while it cuts from it
  size_t used, size;
} task_block;

struct tar_reader {
  int root;
  parent_cache pc;
  int state;
  uint8_t block[BLOCK];
  size_t have;      // bytes of block read
  uint64_t offset;  // bytes of the tar consumed
  uint64_t left;    // data bytes left of the current entry
  uint64_t pad;     // padding bytes after them
  int zero_block;   // the previous header block was all zeros
  int fd;           // the file being written, or -1
  entry cur;
  char special;  // 'x', 'g', 'L' or 'K' being read
  char *buf;
  size_t buf_len, buf_cap;
  tarhdr_pending pend;  // GNU and PAX records for the next entry
  slot *slots;
  size_t nslots, used;
  size_t names_cap;             // names held before those not needed are let go (evict)
  size_t implied, implied_cap;  // bytes of the implied parents' names in the table (slot.implied), and how many may be
  uint64_t made;                // names the table was given so far
  uint64_t evicted;             // names let go so far
  dir_rec *dirs;
  size_t ndirs, dcap;
  int *free_dirs;  // records of closed directories, for reuse
  size_t nfree;
  int *open;  // the directories the archive is in, outermost first (leave_dirs)
  size_t nopen, ocap;
  restore_rec *restores;
  size_t nrestores, rcap;
  uint64_t entries, bytes;
  int failed;
  claims *claims;  // the provision's other tar layers, or NULL
  int layer;       // this one's index among all layers
  uint64_t epoch;  // counts directories replaced
  meta_policy policy;
  meta_changes changes;
  int skipped;    // some device node was left out (slot.skipped)
  uid_t new_uid;  // what an entry made beneath root is owned by
  gid_t new_gid;
  int direct;            // TAR_DIRECT: root is the rootfs being built (tar.h)
  int marker_meta;       // TAR_MARKER_META (tar.h)
  uint64_t bad_markers;  // TAR_DIRECT: names whose marker is refused if it stands at the end
  int no_record;         // TAR_NO_RECORD
  write_tally tally;     // the tree as it stands
  mode_t root_mode;      // TAR_DIRECT: the mode the root takes at the end
  // Lanes: the writers of simple entries ("Lanes" below). lanes_after: the
  // simple entries to read before they start (-1: never).
  lanes *lanes;
  long lanes_after;
  uint64_t lane_data;         // the largest file with data a lane takes (0: empty files only)
  lane_dir ldirs[LANE_DIRS];  // the directories lanes were given, oldest first
  size_t nldirs;
  failure lane_fail[LANES];
  write_tally lane_tally[LANES];  // what a lane removed (a name given twice)
  task_block *tasks;              // where tasks are cut from
  struct lane_task *pending;      // a file whose data is being read, for its lane
  lane_dir *pending_dir;
  // The thread that feeds this reader, or NULL (fed on the caller's):
  // while it runs, only it touches the reader.
  tar_pipe *pipe;
  sha256_ctx *hash;  // TAR_HASH: every byte fed
  char digest[72];   // TAR_HASH, after tar_finish: "sha256:..."
};

// ---- failures ----------------------------------------------------------

// A tar condition: code, rel (owned copy, may be NULL) and a message.
static int tar_fail(failure *f, const char *code, const char *rel, const char *fmt, ...) {
  fail_code(f, code, "tar", SIDE_ROOTFS, NULL);
  va_list ap;
  va_start(ap, fmt);
  fail_vdetail(f, fmt, ap);
  va_end(ap);
  if (rel) {
    f->owned = strdup(rel);
    f->rel = f->owned;
  }
  return -1;
}

// A system error at rel (copied: the entry's name is freed before JS reads it).
static int sys_fail(failure *f, int err, const char *syscall, const char *rel) {
  fail_errno(f, err, syscall, SIDE_ROOTFS, NULL);
  if (rel) {
    f->owned = strdup(rel);
    f->rel = f->owned;
  }
  return -1;
}

// write_* helpers set f->rel to a borrowed pointer: make it owned.
static int own_rel(failure *f) {
  if (f->rel && f->rel != f->owned) {
    f->owned = strdup(f->rel);
    f->rel = f->owned;
  }
  return -1;
}

// Writes n bytes to fd whole (short writes and EINTR taken again): 0, or -1 with errno.
static int write_all(int fd, const uint8_t *p, size_t n) {
  for (const uint8_t *end = p + n; p < end;) {
    ssize_t w = write(fd, p, (size_t)(end - p));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
  }
  return 0;
}

// Straight into the rootfs, a directory of the layer replaced by another
// kind (replace, and a lane's name given twice): counting what it held
// would take an entry by entry walk, rare enough to read the layer again.
static int restart_replaced_dir(failure *f, const char *rel) {
  return tar_fail(f, CODE_RESTART, rel, "a directory of the layer replaced by another kind of entry: the layer is extracted beside the rootfs");
}

// ---- lanes ------------------------------------------------------------
// Straight into the rootfs, as root, with owners kept (the policy counts
// nothing then, and a lane needs no ID map): the empty files and symlinks
// of a directory without xattrs are made by a lane, all those of one
// directory by the same lane in the tar's order, and a directory's
// metadata after them (close_dir). Every other step waits first for what
// the lanes hold where it acts: the entry's directory (lane_settle), or
// everything (lane_settle_all: a hardlink, a marker, a missing parent, a
// directory the archive comes back to). So the tree is the one the reader
// alone makes. A layer of 1M empty files: "Lanes" in docs/benchmarks.md.

typedef struct lane_task {
  char kind;  // 'f' an empty file, 'w' a file with data, 'l' a symlink, 'd' a directory's metadata
  int dir;    // f l: its directory's fd (a lane_dir's)
  mode_t made;
  write_meta m;                   // no xattrs
  const char *name, *rel, *link;  // after it, in its block
  uint8_t *data;                  // w: size bytes, after link
  size_t size;
  task_block *block;
} lane_task;

static void block_put(task_block *b) {
  if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0) free(b);
}

static void lane_release(void *ctx, void *task) {
  (void)ctx;
  block_put(((lane_task *)task)->block);
}

// A task with extra bytes after it, cut from the current block (a new one
// when it is full), with the metadata m but its xattrs (an entry with
// xattrs stays with the reader). NULL: no memory.
static lane_task *task_new(tar_reader *t, size_t extra, const write_meta *m) {
  size_t need = (sizeof(lane_task) + extra + 15) & ~(size_t)15;
  task_block *b = t->tasks;
  if (!b || b->used + need > b->size) {
    size_t size = need > TASK_BLOCK / 4 ? need : TASK_BLOCK;
    task_block *fresh = malloc(sizeof *fresh + 16 + size);
    if (!fresh) return NULL;
    *fresh = (task_block){.refs = 1, .used = 0, .size = size};
    block_put(b);
    t->tasks = b = fresh;
  }
  lane_task *k = (lane_task *)((char *)(b + 1) + ((16 - sizeof *b % 16) % 16) + b->used);
  b->used += need;
  __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
  *k = (lane_task){.block = b, .m = *m};
  k->m.xattr_names = k->m.xattr_values = NULL;
  k->m.xattr_sizes = NULL;
  return k;
}

// The lane_dir of directory rel[0, len), if lanes hold one.
static lane_dir *lane_dir_find(tar_reader *t, const char *rel, size_t len) {
  for (size_t i = t->nldirs; i-- > 0;) {
    lane_dir *d = &t->ldirs[i];
    if (strlen(d->rel) == len && strncmp(d->rel, rel, len) == 0) return d;
  }
  return NULL;
}

// Waits for what the lanes hold in rel's directory.
static void lane_settle(tar_reader *t, const char *rel) {
  if (!t->lanes) return;
  const char *slash = strrchr(rel, '/');
  lane_dir *d = lane_dir_find(t, rel, slash ? (size_t)(slash - rel) : 0);
  if (d) lanes_wait(t->lanes, d->lane, d->last);
}

static void lane_settle_all(tar_reader *t) {
  if (t->lanes) lanes_wait(t->lanes, -1, 0);
}

// Stops the lanes (nothing written after it) and adds what they removed to the tally.
static void lanes_stop(tar_reader *t) {
  if (!t->lanes) return;
  lanes_close(t->lanes);
  t->lanes = NULL;
  t->lanes_after = -1;
  if (t->pending) block_put(t->pending->block);
  t->pending = NULL;
  block_put(t->tasks);
  t->tasks = NULL;
  for (int i = 0; i < LANES; i++) {
    t->tally.entries += t->lane_tally[i].entries;
    t->tally.directories += t->lane_tally[i].directories;
    t->tally.hardlinks += t->lane_tally[i].hardlinks;
    t->tally.bytes += t->lane_tally[i].bytes;
    t->lane_tally[i] = (write_tally){0};
  }
  for (size_t i = 0; i < t->nldirs; i++) {
    close(t->ldirs[i].fd);
    free(t->ldirs[i].rel);
  }
  t->nldirs = 0;
}

// A lane's failure as the reader's: 0 when none failed, else -1 with *f
// (the failing entry's, which the reader has passed) and the lanes stopped.
static int lane_failure(tar_reader *t, failure *f) {
  int i = t->lanes ? lanes_failed(t->lanes) : -1;
  if (i < 0) return 0;
  lanes_stop(t);
  failure_clear(f);
  *f = t->lane_fail[i];
  t->lane_fail[i] = (failure){0};
  return -1;
}

static int lane_run(void *ctx, int lane, void *task) {
  tar_reader *t = ctx;
  lane_task *k = task;
  failure *f = &t->lane_fail[lane];
  if (k->kind == 'd') return write_set_meta(&t->policy, t->root, k->rel, 'd', &k->m, f) != 0 ? own_rel(f) : 0;
  int fd = -1;
  for (int again = 0;; again = 1) {
    int rc = k->kind == 'f'   ? lc_mknodat(k->dir, k->name, S_IFREG | k->made, 0)
             : k->kind == 'w' ? ((fd = openat(k->dir, k->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, k->made)) < 0 ? -1 : 0)
                              : symlinkat(k->link, k->dir, k->name);
    if (rc == 0) break;
    if (errno != EEXIST || again) return sys_fail(f, errno, k->kind == 'f' ? "mknod" : k->kind == 'w' ? "open" : "symlink", k->rel);
    // A name given twice is the later entry (replace, as the reader does it).
    struct stat st;
    if (lc_fstatat(k->dir, k->name, &st, AT_SYMLINK_NOFOLLOW) != 0) return sys_fail(f, errno, "stat", k->rel);
    if (S_ISDIR(st.st_mode)) return restart_replaced_dir(f, k->rel);
    if (unlinkat(k->dir, k->name, 0) != 0) return sys_fail(f, errno, "unlink", k->rel);
    write_tally_removed(&t->lane_tally[lane], &st);
  }
  if (k->kind != 'w') return write_set_meta_at(&t->policy, k->dir, k->name, k->rel, k->kind, &k->m, f) != 0 ? own_rel(f) : 0;
  int rc = write_all(fd, k->data, k->size) != 0 ? sys_fail(f, errno, "write", k->rel) : 0;
  if (rc == 0) rc = write_set_meta_fd(&t->policy, fd, k->rel, &k->m, f) != 0 ? own_rel(f) : 0;
  close(fd);
  return rc;
}

// The lane_dir for rel's directory (dir: its fd): the one lanes hold, or a
// new one on the lane with less to do. NULL: out of fds or memory (errno).
static lane_dir *lane_dir_for(tar_reader *t, const char *rel, int dir) {
  const char *slash = strrchr(rel, '/');
  size_t len = slash ? (size_t)(slash - rel) : 0;
  lane_dir *d = lane_dir_find(t, rel, len);
  if (d) {
    // The newest last: the least recently given goes first (below).
    lane_dir keep = *d;
    size_t i = (size_t)(d - t->ldirs);
    memmove(t->ldirs + i, t->ldirs + i + 1, (t->nldirs - 1 - i) * sizeof *t->ldirs);
    t->ldirs[t->nldirs - 1] = keep;
    return &t->ldirs[t->nldirs - 1];
  }
  if (t->nldirs == LANE_DIRS) {
    // The least recently given goes once its tasks have run.
    lane_dir *old = &t->ldirs[0];
    lanes_wait(t->lanes, old->lane, old->last);
    close(old->fd);
    free(old->rel);
    memmove(t->ldirs, t->ldirs + 1, (LANE_DIRS - 1) * sizeof *t->ldirs);
    t->nldirs--;
  }
  int fd = fcntl(dir, F_DUPFD_CLOEXEC, 0);
  char *copy = fd < 0 ? NULL : strndup(rel, len);
  if (!copy) {
    int e = fd < 0 ? errno : ENOMEM;
    if (fd >= 0) close(fd);
    errno = e;
    return NULL;
  }
  int lane = lanes_pending(t->lanes, 1) < lanes_pending(t->lanes, 0);
  d = &t->ldirs[t->nldirs++];
  *d = (lane_dir){.rel = copy, .fd = fd, .lane = lane, .last = 0};
  return d;
}

// ---- the table of names: directories standing, directory headers ------

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
  return h;
}

static slot *find(tar_reader *t, const char *rel) {
  size_t mask = t->nslots - 1;
  for (size_t i = hash(rel) & mask;; i = (i + 1) & mask) {
    slot *s = &t->slots[i];
    if (!s->rel) return NULL;
    if (s->rel && strcmp(s->rel, rel) == 0) return s;
  }
}

static int grow(tar_reader *t);
static void evict(tar_reader *t);

// The slot of rel, made when missing (standing 0, dir -1); NULL: no memory.
// Any other slot pointer is stale after it (evict moves them).
static slot *get(tar_reader *t, const char *rel) {
  slot *s = find(t, rel);
  if (s) return s;
  if (t->used >= t->names_cap) evict(t);
  if ((t->used + 1) * 2 > t->nslots && grow(t) != 0) return NULL;
  size_t mask = t->nslots - 1;
  size_t i = hash(rel) & mask;
  while (t->slots[i].rel) i = (i + 1) & mask;
  s = &t->slots[i];
  if (!(s->rel = strdup(rel))) return NULL;
  t->used++;
  t->made++;
  s->implied = 0;
  s->standing = 0;
  s->dir = -1;
  s->restore = -1;
  s->placeholder = 0;
  s->skipped = 0;
  s->marker = 0;
  s->headed = s->closed = 0;
  s->born = s->killed = 0;
  return s;
}

static int grow(tar_reader *t) {
  size_t n = t->nslots ? t->nslots * 2 : 1024;
  slot *old = t->slots, *fresh = calloc(n, sizeof *fresh);
  if (!fresh) return -1;
  size_t old_n = t->nslots;
  t->slots = fresh;
  t->nslots = n;
  t->used = 0;
  for (size_t i = 0; i < old_n; i++) {
    if (!old[i].rel) continue;
    size_t j = hash(old[i].rel) & (n - 1);
    while (fresh[j].rel) j = (j + 1) & (n - 1);
    fresh[j] = old[i];
    t->used++;
  }
  free(old);
  return 0;
}

// A name the table need not hold: a standing directory that was never
// replaced itself (a replacement outdates what was below it: forget), whose
// header's metadata is set (closed) with nothing to set again; or, straight into the rootfs, an implied one (no plan asks
// for them). What the reader asks of it later, the filesystem answers:
// ensure_parent makes it again (EEXIST), reopen_parent finds it on disk.
static int evictable(const tar_reader *t, const slot *s) {
  if (!s->rel[0] || !s->standing || s->killed || s->dir >= 0 || s->restore >= 0 || s->marker || s->skipped || s->placeholder) return 0;
  return s->headed ? s->closed : t->direct;
}

// Lets go of the names not needed. Every directory of a layer stood in the
// table until the end (~190 bytes each: a layer of 1M empty directories
// peaked at 246 MB, and 10M would need 2 GB); now those the archive has
// left go, so memory follows what is open, not the layer's size. Where
// little could go, more is held before the next try (amortized O(1)).
static void evict(tar_reader *t) {
  slot *fresh = calloc(t->nslots, sizeof *fresh);
  if (!fresh) return;
  size_t mask = t->nslots - 1, kept = 0;
  for (size_t i = 0; i < t->nslots; i++) {
    slot *s = &t->slots[i];
    if (!s->rel) continue;
    if (evictable(t, s)) {
      if (s->implied) t->implied -= strlen(s->rel) + 1;
      free(s->rel);
      t->evicted++;
      continue;
    }
    size_t j = hash(s->rel) & mask;
    while (fresh[j].rel) j = (j + 1) & mask;
    fresh[j] = *s;
    kept++;
  }
  free(t->slots);
  t->slots = fresh;
  t->used = kept;
  if (kept * 2 > t->names_cap) t->names_cap *= 2;
}

// rel was replaced after epoch `born`.
static int find_killed_after(tar_reader *t, const char *rel, uint64_t born) {
  slot *s = find(t, rel);
  return s && s->killed > born;
}

// Whether what was born under rel's directories at epoch `born` is still
// there: no directory above rel was replaced since.
static int alive(tar_reader *t, const char *rel, uint64_t born) {
  // Nothing replaced yet; or a top-level name (the root is never replaced).
  if (t->epoch == 0 || !strchr(rel, '/')) return 1;
  char *p = strdup(rel);
  if (!p) return 0;
  int ok = 1;
  for (char *cut = strrchr(p, '/'); ok && cut; cut = strrchr(p, '/')) {
    *cut = 0;
    ok = !find_killed_after(t, p, born);
  }
  free(p);
  return ok;
}

static int is_standing(tar_reader *t, const char *rel) {
  slot *s = find(t, rel);
  return s && s->standing && alive(t, rel, s->born);
}

static void free_meta(write_meta *m) {
  for (uint32_t i = 0; i < m->nxattrs; i++) {
    free(m->xattr_names[i]);
    free(m->xattr_values[i]);
  }
  free(m->xattr_names);
  free(m->xattr_values);
  free(m->xattr_sizes);
  memset(m, 0, sizeof *m);
}

// A name replaced by another kind: it and everything below it drop out of
// the table — in O(1): the name's epoch of replacement outdates what was
// born under it (alive). A scan of the table for the names below it, once
// a replacement, made a tar of many directories replaced many times
// quadratic (a hostile layer could pin a CPU).
static void forget(tar_reader *t, const char *rel, int was_dir) {
  slot *s = find(t, rel);
  if (!s && was_dir && t->evicted) {
    // A directory let go (evict): what the table holds below it is outdated all the same.
    if ((s = get(t, rel))) s->killed = ++t->epoch;
    return;
  }
  if (!s || !is_standing(t, rel)) return;
  s->standing = 0;
  s->killed = ++t->epoch;
  s->headed = s->closed = 0;
  s->restore = -1;
  if (s->dir >= 0) {
    t->dirs[s->dir].live = 0;
    free_meta(&t->dirs[s->dir].m);
    s->dir = -1;
  }
}

// ---- numbers and names -------------------------------------------------

// A PAX decimal ("1700000000.123456789", "-1.5") as seconds and ns.
static int pax_time(const char *v, int64_t *sec, int64_t *nsec) {
  int neg = *v == '-';
  if (neg || *v == '+') v++;
  if (*v < '0' || *v > '9') return -1;
  int64_t s = 0, ns = 0;
  for (; *v >= '0' && *v <= '9'; v++) {
    if (s > INT64_MAX / 10 - 10) return -1;
    s = s * 10 + (*v - '0');
  }
  if (*v == '.') {
    v++;
    int digits = 0;
    for (; *v >= '0' && *v <= '9'; v++, digits++)
      if (digits < 9) ns = ns * 10 + (*v - '0');
    for (; digits < 9; digits++) ns *= 10;
  }
  if (*v) return -1;
  if (neg && ns) {
    s = -s - 1;
    ns = 1000000000 - ns;
  } else if (neg) {
    s = -s;
  }
  *sec = s;
  *nsec = ns;
  return 0;
}

static int b64(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// base64 (LIBARCHIVE.xattr values) into out (room for len bytes); its length.
static size_t unbase64(const char *in, size_t len, char *out) {
  size_t n = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64((uint8_t)in[i]);
    if (v < 0) continue;  // padding, line breaks
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  return n;
}

// %XX escapes (LIBARCHIVE.xattr names), in place.
static void unescape(char *s) {
  char *w = s;
  for (char *r = s; *r; r++) {
    int hi, lo;
    if (r[0] == '%' && r[1] && r[2] && sscanf(r + 1, "%1x%1x", (unsigned *)&hi, (unsigned *)&lo) == 2) {
      *w++ = (char)(hi * 16 + lo);
      r += 2;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
}

static int has_xattr(const write_meta *m, const char *name) {
  for (uint32_t i = 0; i < m->nxattrs; i++)
    if (strcmp(m->xattr_names[i], name) == 0) return 1;
  return 0;
}

// Adds (or, for a name given again, replaces) an xattr; -1 when out of memory.
// An entry's xattrs are matched by name as each is added: unbounded, one
// PAX header of 31k names cost 1.4 s of CPU, and such headers compress to
// nothing. Real layers carry a handful; Linux lists at most 64 KiB of names
// on a file. Past this, the layer is refused (add_xattr returns -2).
#define XATTRS_MAX 256

static int add_xattr(entry *e, const char *name, const char *value, size_t size) {
  // trusted.overlay.* are overlayfs's own (opaque, redirect, origin): they
  // would change what an overlay mount built on the rootfs shows; umoci
  // leaves them out too.
  if (strncmp(name, "trusted.overlay.", 16) == 0) return 0;
  write_meta *m = &e->m;
  char *v = malloc(size ? size : 1);
  if (!v) return -1;
  memcpy(v, value, size);
  for (uint32_t i = 0; i < m->nxattrs; i++) {
    if (strcmp(m->xattr_names[i], name) == 0) {
      free(m->xattr_values[i]);
      m->xattr_values[i] = v;
      m->xattr_sizes[i] = size;
      return 0;
    }
  }
  if (m->nxattrs >= XATTRS_MAX) {
    free(v);
    return -2;
  }
  if (m->nxattrs == e->xcap) {
    uint32_t cap = e->xcap ? e->xcap * 2 : 4;
    char **names = realloc(m->xattr_names, cap * sizeof *names);
    if (names) m->xattr_names = names;
    char **values = realloc(m->xattr_values, cap * sizeof *values);
    if (values) m->xattr_values = values;
    size_t *sizes = realloc(m->xattr_sizes, cap * sizeof *sizes);
    if (sizes) m->xattr_sizes = sizes;
    if (!names || !values || !sizes) {
      free(v);
      return -1;
    }
    e->xcap = cap;
  }
  if (!(m->xattr_names[m->nxattrs] = strdup(name))) {
    free(v);
    return -1;
  }
  m->xattr_values[m->nxattrs] = v;
  m->xattr_sizes[m->nxattrs++] = size;
  return 0;
}

// GNU's sparse records (PAX 0.0: offset and numbytes pairs; 0.1: map; 1.0:
// major 1, the map in the data), as Go's archive/tar reads them.
static int apply_sparse(entry *e, const char *key, const char *val, failure *f) {
  int64_t v = 0;
  int number = strcmp(key, "name") != 0 && strcmp(key, "map") != 0;
  if (number && tarhdr_pax_uint(val, &v) != 0) return tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX GNU.sparse.%s '%.40s'", key, val);
  if (strcmp(key, "name") == 0) {
    free(e->sparse_name);
    if (!(e->sparse_name = strdup(val))) return sys_fail(f, ENOMEM, "malloc", NULL);
  } else if (strcmp(key, "size") == 0 || strcmp(key, "realsize") == 0) {
    e->map.realsize = (uint64_t)v;
  } else if (strcmp(key, "major") == 0) {
    if (v != 0 && v != 1) return tar_fail(f, CODE_UNSUPPORTED_ENTRY, NULL, "unsupported tar entry type sparse (PAX version %lld)", (long long)v);
    if (v == 1) e->sparse = 2;
  } else if (strcmp(key, "offset") == 0) {
    if (e->map.offset_pending || sparse_add(&e->map, (uint64_t)v, 0) != 0) return tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX sparse map (offset)");
    e->map.offset_pending = 1;
    if (!e->sparse) e->sparse = 1;
  } else if (strcmp(key, "numbytes") == 0) {
    if (!e->map.offset_pending) return tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX sparse map (numbytes before its offset)");
    e->map.segs[e->map.n - 1].len = (uint64_t)v;
    e->map.offset_pending = 0;
  } else if (strcmp(key, "map") == 0) {
    e->map.n = 0;
    if (sparse_parse_list(&e->map, val) != 0) return tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX GNU.sparse.map");
    if (!e->sparse) e->sparse = 1;
  }
  return 0;
}

// add_xattr's outcome as the reader's: 0, or -1 with *f set.
static int xattr_added(int added, failure *f) {
  if (added == -2) return tar_fail(f, CODE_INVALID_TAR, NULL, "more than %d extended attributes on one entry", XATTRS_MAX);
  return added != 0 ? sys_fail(f, ENOMEM, "malloc", NULL) : 0;
}

// Applies PAX records ("LEN key=value\n" each) to e. Returns 0, or -1 with *f set.
static int apply_pax(tar_reader *t, entry *e, const char *p, size_t len, failure *f) {
  tarhdr_kv kv;
  int next;
  while ((next = tarhdr_pax_next(&p, &len, &kv)) == 1) {
    const char *key = kv.key, *val = kv.val;
    size_t vlen = kv.vlen;
    char why[160];
    int rc = 0, placed = tarhdr_pax_place(&kv, &e->name, &e->link, &e->size, why, sizeof why);
    if (placed < 0) {
      rc = tar_fail(f, CODE_INVALID_TAR, NULL, "%s", why);
    } else if (placed > 0) {
      // path, linkpath or size: tarhdr.c's rules.
    } else if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
      int64_t v;
      if (tarhdr_pax_uint(kv.sval, &v) != 0) {
        rc = tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX %s '%.40s'", key, kv.sval);
      } else if (v > UINT32_MAX) {
        rc = tar_fail(f, CODE_INVALID_TAR, NULL, "PAX %s %lld is out of range", key, (long long)v);
      } else if (key[0] == 'u') {
        e->m.uid = (uid_t)v;
      } else {
        e->m.gid = (gid_t)v;
      }
    } else if (strcmp(key, "mtime") == 0 || strcmp(key, "atime") == 0) {
      int64_t s, ns;
      if (pax_time(kv.sval, &s, &ns) != 0) {
        rc = tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX %s '%.40s'", key, kv.sval);
      } else if (key[0] == 'm') {
        e->m.mtime_sec = s;
        e->m.mtime_nsec = ns;
      } else {
        e->m.atime_sec = s;
        e->m.atime_nsec = ns;
      }
    } else if (strncmp(key, "SCHILY.xattr.", 13) == 0) {
      rc = xattr_added(key[13] ? add_xattr(e, key + 13, val, vlen) : 0, f);
    } else if (strncmp(key, "LIBARCHIVE.xattr.", 17) == 0) {
      unescape(kv.key + 17);
      char *raw = malloc(vlen + 1);
      if (!raw) {
        rc = sys_fail(f, ENOMEM, "malloc", NULL);
      } else {
        // SCHILY's, when both are given, wins (as bsdtar writes both).
        rc = xattr_added(key[17] && !has_xattr(&e->m, key + 17) ? add_xattr(e, key + 17, raw, unbase64(val, vlen, raw)) : 0, f);
        free(raw);
      }
    } else if (strncmp(key, "GNU.sparse.", 11) == 0) {
      rc = apply_sparse(e, key + 11, kv.sval, f);
    }
    tarhdr_kv_free(&kv);
    if (rc != 0) return rc;
  }
  if (next == -2) return sys_fail(f, ENOMEM, "malloc", NULL);
  if (next == -1) return tar_fail(f, CODE_INVALID_TAR, NULL, "invalid PAX record at byte %llu of the tar", (unsigned long long)t->offset);
  return 0;
}

// Whether the directories above rel would pass the implied bytes' cap:
// the names of its own parents alone (what finding the deepest of them that
// stands hashes, too), or those the table does not hold yet with the
// implied ones it holds. All of them counted in one pass first; only where
// that passes the cap, each looked up.
static int names_too_many(tar_reader *t, const char *rel) {
  const char *slash = strrchr(rel, '/');
  if (!slash) return 0;
  size_t len = (size_t)(slash - rel), all = len + 1, cap = t->implied_cap;
  for (size_t i = 0; i < len; i++)
    if (rel[i] == '/') all += i + 1;
  if (all > cap) return 1;
  if (t->implied + all <= cap) return 0;
  char *p = strndup(rel, len);
  if (!p) return 0;  // out of memory: the next allocation says so
  size_t missing = 0;
  for (size_t i = 0; i <= len && t->implied + missing <= cap; i++) {
    if (i < len && p[i] != '/') continue;
    char c = p[i];
    p[i] = 0;
    if (!find(t, p)) missing += i + 1;
    p[i] = c;
  }
  free(p);
  return t->implied + missing > cap;
}

// A tar name as a rel beneath the layer root: leading "/" and "./" dropped,
// "." and empty parts gone. NULL when a part is ".." (*dotdot set) or out of memory.
static char *clean_name(const char *name, int *dotdot) {
  size_t len = strlen(name);
  char *out = malloc(len + 1), *w = out;
  *dotdot = 0;
  if (!out) return NULL;
  for (const char *p = name; *p;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      *dotdot = 1;
      free(out);
      return NULL;
    }
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (w != out) *w++ = '/';
      memcpy(w, p, n);
      w += n;
    }
    p += n;
    if (*p == '/') p++;
  }
  *w = 0;
  return out;
}

static const char *type_name(char type) {
  switch (type) {
    case 'V':
      return "volume header";
    case 'M':
      return "multi-volume";
    case 'D':
      return "GNU dumpdir";
    case 'N':
      return "GNU long-name (old)";
    default:
      return NULL;
  }
}

// ---- entries -------------------------------------------------------------

static void entry_free(entry *e) {
  free(e->name);
  free(e->link);
  free(e->rel);
  free(e->sparse_name);
  sparse_free(&e->map);
  free_meta(&e->m);
  memset(e, 0, sizeof *e);
}

// Removes what the layer already has at rel (the same name given again).
static int replace(tar_reader *t, const char *rel, failure *f) {
  const char *name;
  int dir = parent_of(&t->pc, rel, &name);
  if (dir < 0) return sys_fail(f, errno, "openat2", rel);
  struct stat st;
  int was_dir = 0;
  if (lc_fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    was_dir = S_ISDIR(st.st_mode);
    if (t->direct && was_dir) return restart_replaced_dir(f, rel);
    write_tally_removed(&t->tally, &st);
  }
  if (remove_tree(dir, name, 1, NULL, f) != 0) {
    if (!f->rel) return sys_fail(f, f->err, f->syscall, rel);
    return own_rel(f);
  }
  forget(t, rel, was_dir);
  slot *s = find(t, rel);
  if (s) s->placeholder = 0;
  return 0;
}

// Tells the provision's other layers what this entry hides: an entry at
// rel, or for a marker the whiteout or opaque directory it names.
static int claim(tar_reader *t, const char *rel, failure *f) {
  if (!t->claims || !rel[0] || t->no_record) return 0;
  const char *slash = strrchr(rel, '/');
  const char *name = slash ? slash + 1 : rel;
  int rc = 0;
  if (strncmp(name, ".wh.", 4) != 0) {
    rc = claims_entry(t->claims, rel, t->layer);
  } else if (strcmp(name, ".wh..wh..opq") == 0) {
    char *dir = strndup(rel, slash ? (size_t)(slash - rel) : 0);
    rc = dir ? claims_opaque(t->claims, dir, t->layer) : -1;
    free(dir);
  } else if (strncmp(name, ".wh..wh.", 8) != 0) {
    // rel without the marker's prefix: dir/.wh.NAME -> dir/NAME
    size_t at = (size_t)(name - rel);
    char *target = malloc(strlen(rel) - 3);
    if (target) {
      memcpy(target, rel, at);
      strcpy(target + at, name + 4);
      rc = claims_whiteout(t->claims, target, t->layer);
    }
    free(target);
    if (!target) rc = -1;
  }
  return rc != 0 ? sys_fail(f, ENOMEM, "malloc", rel) : 0;
}

// A directory made where this layer had a non-directory. Layers are applied
// entry by entry (umoci, containerd and moby: a name's old entry is removed
// with all beneath it unless both are directories), so that non-directory
// took what the layers below have there, and the directory made again holds
// only what this layer puts in it: it is opaque. The marker in scratch tells
// the plan; the claims set hears it, which keeps a "hidden" answer the set
// gave for a name beneath (an entry this layer had there before) true.
// Straight into the rootfs there is nothing below.
static int clobbered(tar_reader *t, const char *rel, failure *f) {
  if (t->direct) return 0;
  int dir = open_beneath(t->root, rel, O_PATH | O_DIRECTORY);
  if (dir < 0) return sys_fail(f, errno, "openat2", rel);
  int fd = openat(dir, ".wh..wh..opq", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  int err = errno;
  close(dir);
  if (fd < 0) return sys_fail(f, err, "open", rel);
  close(fd);
  if (!t->claims || t->no_record) return 0;
  return claims_opaque(t->claims, rel, t->layer) != 0 ? sys_fail(f, ENOMEM, "malloc", rel) : 0;
}

static int clobbered_prefix(tar_reader *t, const char *rel, size_t len, failure *f) {
  char *dir = strndup(rel, len);
  if (!dir) return sys_fail(f, ENOMEM, "malloc", rel);
  int rc = clobbered(t, dir, f);
  free(dir);
  return rc;
}

static int unskip(tar_reader *t, int dir, const char *name, const char *rel);

// A device node left out stood where a parent is now implied: the
// directory made there replaced it (clobbered), its marker goes.
static int unskip_parents(tar_reader *t, const char *parent, failure *f) {
  char *p = strdup(parent);
  if (!p) return sys_fail(f, ENOMEM, "malloc", parent);
  int rc = 0;
  for (char *cut = p;; cut++) {
    cut = strchr(cut, '/');
    if (cut) *cut = 0;
    slot *s = find(t, p);
    if (s && s->skipped) {
      const char *name;
      int dir = parent_of(&t->pc, p, &name);
      if (dir < 0) {
        rc = sys_fail(f, errno, "openat2", p);
      } else {
        unskip(t, dir, name, p);
        rc = clobbered(t, p, f);
      }
    }
    if (rc != 0 || !cut) break;
    *cut = '/';
  }
  free(p);
  return rc;
}

// Makes rel's parent directories (implied parents, 0755) unless known to stand.
static int ensure_parent(tar_reader *t, const char *rel, failure *f) {
  const char *slash = strrchr(rel, '/');
  if (!slash) return 0;
  char *parent = strndup(rel, (size_t)(slash - rel));
  if (!parent) return sys_fail(f, ENOMEM, "malloc", rel);
  int rc = 0;
  if (!is_standing(t, parent)) {
    // ensure_dirs may replace a file or symlink on the way: the cached
    // parent fd is not trusted across it.
    lane_settle_all(t);
    pc_close(&t->pc);
    size_t replaced = 0;
    if (write_ensure_dirs(t->root, parent, &t->tally, &replaced, f) != 0) {
      rc = sys_fail(f, f->err, f->syscall, rel);
    } else if (replaced > 0 && clobbered_prefix(t, parent, replaced, f) != 0) {
      rc = -1;
    } else if (t->skipped && unskip_parents(t, parent, f) != 0) {
      rc = -1;
    } else {
      for (char *p = parent;;) {
        uint64_t made = t->made;
        slot *s = get(t, p);
        if (!s) {
          rc = sys_fail(f, ENOMEM, "malloc", rel);
          break;
        }
        if (t->made != made) {
          s->implied = 1;
          t->implied += strlen(p) + 1;
        }
        if (s->standing && alive(t, p, s->born)) break;
        s->standing = 1;
        s->born = t->epoch;
        char *cut = strrchr(p, '/');
        if (!cut) {
          p[0] = 0;
        } else {
          *cut = 0;
        }
      }
    }
  }
  free(parent);
  return rc;
}

static void made_with(tar_reader *t, write_meta *m, mode_t made);

static int record_dir(tar_reader *t, entry *e, failure *f) {
  slot *s = get(t, e->rel);
  if (!s) return sys_fail(f, ENOMEM, "malloc", e->rel);
  s->standing = 1;
  s->born = t->epoch;
  s->headed = 1;
  s->closed = 0;
  if (s->dir >= 0) {
    free_meta(&t->dirs[s->dir].m);
  } else {
    if (t->nfree > 0) {
      s->dir = t->free_dirs[--t->nfree];
    } else {
      if (t->ndirs == t->dcap) {
        size_t cap = t->dcap ? t->dcap * 2 : 64;
        dir_rec *d = realloc(t->dirs, cap * sizeof *d);
        int *fr = d ? realloc(t->free_dirs, cap * sizeof *fr) : NULL;
        if (d) t->dirs = d;
        if (!fr) return sys_fail(f, ENOMEM, "malloc", e->rel);
        t->free_dirs = fr;
        t->dcap = cap;
      }
      s->dir = (int)t->ndirs++;
    }
    t->dirs[s->dir] = (dir_rec){.rel = strdup(e->rel)};
    if (!t->dirs[s->dir].rel) return sys_fail(f, ENOMEM, "malloc", e->rel);
    // The root's waits for the end; any other's for the archive to leave it.
    if (e->rel[0]) {
      if (t->nopen == t->ocap) {
        size_t cap = t->ocap ? t->ocap * 2 : 64;
        int *o = realloc(t->open, cap * sizeof *o);
        if (!o) return sys_fail(f, ENOMEM, "malloc", e->rel);
        t->open = o;
        t->ocap = cap;
      }
      t->open[t->nopen++] = s->dir;
    }
  }
  t->dirs[s->dir].m = e->m;
  t->dirs[s->dir].live = 1;
  t->dirs[s->dir].born = t->epoch;
  memset(&e->m, 0, sizeof e->m);
  e->xcap = 0;
  return 0;
}

// Whether rel is dir or lies below it.
static int within(const char *rel, const char *dir) {
  size_t n = strlen(dir);
  return strncmp(rel, dir, n) == 0 && (rel[n] == 0 || rel[n] == '/');
}

// The times (and mode, (mode_t)-1: none) of the standing directory s at
// rel, to be set at the end (set_restores).
static int add_restore(tar_reader *t, slot *s, const char *rel, const struct timespec times[2], mode_t mode, failure *f) {
  if (t->nrestores == t->rcap) {
    size_t cap = t->rcap ? t->rcap * 2 : 16;
    restore_rec *r = realloc(t->restores, cap * sizeof *r);
    if (!r) return sys_fail(f, ENOMEM, "malloc", rel);
    t->restores = r;
    t->rcap = cap;
  }
  restore_rec r = {.rel = strdup(rel), .born = s->born, .times = {times[0], times[1]}, .mode = mode};
  if (!r.rel) return sys_fail(f, ENOMEM, "malloc", rel);
  s->restore = (int)t->nrestores;
  t->restores[t->nrestores++] = r;
  return 0;
}

// A directory record's metadata set now (if it still stands), the record
// freed for reuse. As a user other than root, a mode without u+rwx would
// refuse what an out-of-order tar writes below later: it is set with
// u+rwx, and as it is at the end.
static int close_dir(tar_reader *t, int i, failure *f) {
  dir_rec *d = &t->dirs[i];
  int rc = 0;
  if (d->live && alive(t, d->rel, d->born)) {
    slot *s = find(t, d->rel);
    // Made by this reader, 0700.
    made_with(t, &d->m, (mode_t)-1);
    mode_t mode = meta_mode(&t->policy, d->m.mode);
    int hold = s && lc_euid != 0 && (mode & S_IRWXU) != S_IRWXU;
    if (hold) d->m.mode |= S_IRWXU;
    // After what a lane makes in it, by that lane.
    lane_dir *ld = t->lanes ? lane_dir_find(t, d->rel, strlen(d->rel)) : NULL;
    if (ld && d->m.nxattrs == 0 && !hold) {
      size_t len = strlen(d->rel) + 1;
      lane_task *k = task_new(t, len, &d->m);
      if (!k) return sys_fail(f, ENOMEM, "malloc", d->rel);
      k->kind = 'd';
      k->rel = memcpy(k + 1, d->rel, len);
      ld->last = lanes_push(t->lanes, ld->lane, k);
    } else {
      if (ld) lanes_wait(t->lanes, ld->lane, ld->last);
      if (write_set_meta(&t->policy, t->root, d->rel, 'd', &d->m, f) != 0) rc = own_rel(f);
    }
    if (s) {
      s->dir = -1;
      s->closed = 1;
      s->restore = -1;  // what it set now is what stands
    }
    struct timespec times[2] = {{d->m.atime_sec, d->m.atime_nsec}, {d->m.mtime_sec, d->m.mtime_nsec}};
    if (rc == 0 && hold) rc = add_restore(t, s, d->rel, times, mode, f);
  }
  free(d->rel);
  free_meta(&d->m);
  *d = (dir_rec){0};
  t->free_dirs[t->nfree++] = i;
  return rc;
}

// A directory's metadata is set once the archive has left it, as GNU tar
// does: a tar lists a directory's entries after its header, together
// (every tar written from a tree), so the records waiting are those of the
// directories above the current entry, not one per directory of the layer
// (a layer of 1M empty directories held ~280 bytes each until the end:
// 386 MB). rel: the entry now read.
static int leave_dirs(tar_reader *t, const char *rel, failure *f) {
  while (t->nopen > 0) {
    int i = t->open[t->nopen - 1];
    if (t->dirs[i].live && within(rel, t->dirs[i].rel)) break;
    t->nopen--;
    if (close_dir(t, i, f) != 0) return -1;
  }
  return 0;
}

// Whether rel is a directory beneath the root (its lstat in *st): 1, 0,
// or -1 with errno where the filesystem could not say (EMFILE, ENOMEM: not
// taken for "no", which would make a directory let go an implied one).
static int is_dir_on_disk(tar_reader *t, const char *rel, struct stat *st) {
  const char *name;
  int dir = parent_of(&t->pc, rel, &name);
  // Missing, a file or a symlink of the layer on the way (ELOOP): no.
  if (dir < 0 || lc_fstatat(dir, name, st, AT_SYMLINK_NOFOLLOW) != 0) return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -1 : 0;
  return S_ISDIR(st->st_mode);
}

// An entry at rel is about to be made, removed or replaced in the
// deepest directory above it that stands. Where that directory was
// closed (a tar out of order comes back to it), the times its header set
// are kept, to be set again at the end (its mode has u+rwx meanwhile:
// close_dir).
static int reopen_parent(tar_reader *t, const char *rel, failure *f) {
  const char *slash = strrchr(rel, '/');
  if (!slash) return 0;  // the root: set at the end
  if (t->nopen > 0) {
    const char *top = t->dirs[t->open[t->nopen - 1]].rel;
    size_t n = strlen(top);
    if ((size_t)(slash - rel) == n && strncmp(rel, top, n) == 0) return 0;  // in order: the open directory's own entry
  }
  char *p = strndup(rel, (size_t)(slash - rel));
  if (!p) return sys_fail(f, ENOMEM, "malloc", rel);
  int rc = 0;
  for (;;) {
    slot *s = find(t, p);
    struct stat st;
    int on_disk = !s && t->evicted ? is_dir_on_disk(t, p, &st) : 0;
    if (on_disk < 0) {
      rc = sys_fail(f, errno, "stat", p);
      break;
    }
    if (on_disk) {
      // Let go (evict): closed, or implied straight into the rootfs.
      if (!(s = get(t, p))) {
        rc = sys_fail(f, ENOMEM, "malloc", rel);
        break;
      }
      s->standing = s->headed = s->closed = 1;
      s->born = t->epoch;
    }
    if (s && s->standing && alive(t, p, s->born)) {
      if (s->closed && s->restore < 0) {
        lane_settle_all(t);
        const char *name;
        int dir = parent_of(&t->pc, p, &name);
        struct stat st;
        if (dir < 0 || lc_fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          rc = sys_fail(f, errno, dir < 0 ? "openat2" : "stat", p);
          break;
        }
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        rc = add_restore(t, s, p, times, (mode_t)-1, f);
      }
      break;
    }
    char *cut = strrchr(p, '/');
    if (!cut) break;  // up to the root, never closed
    *cut = 0;
  }
  free(p);
  return rc;
}

// e's metadata is for an entry just made, with permission bits made (-1:
// not known): the owner and mode it already has are not set again.
static void made_with(tar_reader *t, write_meta *m, mode_t made) {
  m->fresh = 1;
  m->have_uid = t->new_uid;
  m->have_gid = t->new_gid;
  m->have_mode = made == (mode_t)-1 ? made : made & ~lc_umask;
}

// The permission bits a file, device or FIFO is made with: its own, so
// that the mode need not be set again (setuid and setgid come after the
// owner, which clears them). Its data is written through the fd the
// creation returned, whatever the bits; nothing else reaches it (the root
// is private).
static mode_t create_mode(tar_reader *t, const entry *e) { return meta_mode(&t->policy, e->m.mode) & 0777; }

// A name made, of kind d (directory), f (regular file of size bytes), h
// (hardlink) or any other letter.
static void tally_add(tar_reader *t, char kind, uint64_t bytes) {
  t->tally.entries++;
  if (kind == 'd') t->tally.directories++;
  if (kind == 'h') t->tally.hardlinks++;
  t->tally.bytes += (int64_t)bytes;
}

// Runs make at (dir, name); where the name is taken (given twice), replaces it and runs make again.
#define MAKE_REPLACING(call)                                \
  do {                                                      \
    rc = (call);                                            \
    if (rc != 0 && errno == EEXIST) {                       \
      if (replace(t, rel, f) != 0) return -1;               \
      if ((dir = parent_of(&t->pc, rel, &name)) < 0) break; \
      rc = (call);                                          \
    }                                                       \
  } while (0)

// A device node left out (--devices skip): nothing at rel, and the marker
// .wh.NAME in its place, so that what lower layers have at rel stays hidden
// as the node hid it (a directory layer's skipped node hides it the same
// way: the plan decides the name by this layer, and nothing is written). A
// name too long for a marker leaves the lower layers' entry showing.
static int skip_entry(tar_reader *t, int dir, const char *name, const char *rel, char letter, failure *f) {
  struct stat st;
  if (lc_fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (replace(t, rel, f) != 0) return -1;
    if ((dir = parent_of(&t->pc, rel, &name)) < 0) return sys_fail(f, errno, "openat2", rel);
  }
  // Straight into the rootfs there is nothing below to hide.
  if (!t->direct && strlen(name) + 4 <= NAME_MAX) {
    char marker[NAME_MAX + 1];
    snprintf(marker, sizeof marker, ".wh.%s", name);
    int fd = openat(dir, marker, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return sys_fail(f, errno, "open", rel);
    close(fd);
  }
  slot *s = get(t, rel);
  if (!s) return sys_fail(f, ENOMEM, "malloc", rel);
  s->skipped = letter;
  t->skipped = 1;
  return 0;
}

// A name given again after its device node was left out: the marker goes.
static int unskip(tar_reader *t, int dir, const char *name, const char *rel) {
  slot *s = find(t, rel);
  if (!s || !s->skipped) return 0;
  s->skipped = 0;
  if (t->direct) return 1;
  char marker[NAME_MAX + 1];
  if (strlen(name) + 4 <= NAME_MAX && snprintf(marker, sizeof marker, ".wh.%s", name) > 0) (void)unlinkat(dir, marker, 0);
  return 1;
}

// A whiteout marker or AUFS metadata file (.wh.*) never reaches the rootfs:
// the plan reads its name, so its owner, mode, times and xattrs are not set
// (as non-root with owners kept, a marker's chown was the first to fail, in
// an error naming a file no rootfs has), nor counted by the policy, in any
// extraction (the store's, for `layered` too). A hardlink to one, whose file
// then stays, reads the layer again with TAR_MARKER_META (CODE_RESTART_HIDDEN).
static int marker_meta_skipped(const tar_reader *t, const char *rel) {
  const char *base = strrchr(rel, '/');
  return !t->direct && !t->marker_meta && strncmp(base ? base + 1 : rel, ".wh.", 4) == 0;
}

// Whether a component of rel is a whiteout marker or AUFS metadata (.wh.*).
static int has_marker(const char *rel) {
  for (const char *p = rel; p; p = strchr(p, '/'), p = p ? p + 1 : NULL) {
    const char *slash = strchr(p, '/');
    if (wh_name(p, slash ? (size_t)(slash - p) : strlen(p)) != WH_NONE) return 1;
  }
  return 0;
}

// Straight into the rootfs a marker, or AUFS metadata, is not written: a
// hardlink to one (which a scratch directory holds) needs the layer read
// again that way.
static int restart_for_link(failure *f, const char *rel, const char *target) {
  return tar_fail(f, CODE_RESTART, rel, "hardlink to /%s, a whiteout marker or AUFS metadata: the layer is extracted beside the rootfs", target);
}

// Whether the marker entry e (named at) is what the plan takes for a
// regular file: a file, a hardlink to one, a device node written as one.
// -1: *f set (the policy refused the node).
static int marker_is_file(tar_reader *t, entry *e, failure *f) {
  if (e->type == '0') return 1;
  if (e->type == '1') {
    int dotdot;
    char *target = clean_name(e->link ? e->link : "", &dotdot);
    if (!target) return 0;
    // A marker's target that is a marker was not written either: the file it stands for is one.
    slot *ts = find(t, target);
    int file = 0, missing = 0;
    lane_settle_all(t);
    if (ts && ts->marker) {
      file = ts->marker == MARKER_FILE || ts->marker == MARKER_NOTHING;
    } else {
      int fd = target[0] ? open_beneath(t->root, target, O_PATH) : -1;
      struct stat st;
      missing = fd < 0 && errno == ENOENT;
      file = fd >= 0 && lc_fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
      if (fd >= 0) close(fd);
    }
    // As a scratch directory's link would fail.
    if (missing && target[0])
      file = has_marker(target) ? restart_for_link(f, e->rel, target)
                                : tar_fail(f, CODE_INVALID_TAR, e->rel, "hardlink target /%s is not in this layer (above it in the tar)", target);
    free(target);
    return file;
  }
  if (e->type == '3' || e->type == '4') {
    char letter = e->type == '3' ? 'c' : 'b';
    int act = meta_device(&t->policy, letter, (uint64_t)makedev((unsigned)e->devmajor, (unsigned)e->devminor), e->rel, f);
    if (act < 0) return own_rel(f);
    // Left out, it would stand as the marker .wh..wh.NAME, which the plan skips.
    return act == DEVICE_SKIP || act == DEVICE_EMPTY;
  }
  return 0;
}

// Straight into the rootfs (TAR_DIRECT: a one-layer image) a whiteout
// marker hides nothing, so none is written; each is checked as the plan
// checks a layer's markers (src/strategies/whiteouts.ts, validateListing),
// AUFS metadata (.wh..wh.*, file or directory) skipped — by what stands
// at its name when the tar ends, as in a scratch directory: a name given
// again replaces what it was (a directory .wh.x, then a file .wh.x, is a
// whiteout), so a refusal waits for tar_finish (bad_markers). Its parents
// are made as they would be beside it (implied, 0755). 1: nothing to
// write; 0: an entry; -1: *f set.
static int direct_marker(tar_reader *t, entry *e, failure *f) {
  const char *rel = e->rel;
  for (const char *p = rel;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    wh_kind kind = wh_name(p, n);
    if (kind != WH_NONE) {
      char *at = strndup(rel, (size_t)(p - rel) + n);
      if (!at) return sys_fail(f, ENOMEM, "malloc", rel);
      // AUFS metadata is skipped, whole where it is a directory; the
      // directories it is in stand, as the scratch directory's implied ones do.
      if (kind == WH_AUFS) {
        int made = ensure_parent(t, at, f);
        free(at);
        return made == 0 ? 1 : -1;
      }
      // A marker with entries below it is a directory.
      int file = slash ? 0 : marker_is_file(t, e, f);
      int rc = file < 0 ? -1 : ensure_parent(t, at, f);
      char now = !file ? MARKER_OTHER : kind == WH_NOTHING ? MARKER_NOTHING : MARKER_FILE;
      // A marker as it should be, at a name no marker had, takes no room: a
      // layer of millions of them held ~190 bytes each. A hardlink to one
      // finds nothing, and reads the layer again through scratch.
      slot *s = rc == 0 ? find(t, at) : NULL;
      if (rc == 0 && !s && now == MARKER_FILE) {
        free(at);
        return 1;
      }
      if (rc == 0 && !s && !(s = get(t, at))) rc = sys_fail(f, ENOMEM, "malloc", rel);
      free(at);
      if (rc != 0) return -1;
      t->bad_markers -= s->marker == MARKER_OTHER || s->marker == MARKER_NOTHING;
      t->bad_markers += now != MARKER_FILE;
      s->marker = now;
      return 1;
    }
    if (!slash) return 0;
    p = slash + 1;
  }
}

// The first marker refused by what stands at its name (direct_marker), if any: -1 with *f set.
static int check_markers(tar_reader *t, failure *f) {
  for (size_t i = 0; t->bad_markers && i < t->nslots; i++) {
    const slot *s = &t->slots[i];
    if (!s->rel || (s->marker != MARKER_OTHER && s->marker != MARKER_NOTHING)) continue;
    if (s->marker == MARKER_OTHER) return tar_fail(f, CODE_INVALID_WHITEOUT, s->rel, "invalid whiteout: a .wh. entry must be a regular file");
    const char *name = strrchr(s->rel, '/');
    return tar_fail(f, CODE_INVALID_WHITEOUT, s->rel, "invalid whiteout: \"%s\" names no entry to hide", name ? name + 1 : s->rel);
  }
  return 0;
}

// Whether e is made by a lane (see "Lanes"), which start after
// LANES_AFTER such entries.
static int lane_simple(tar_reader *t, const entry *e) {
  if (t->lanes_after < 0 || t->skipped || e->m.nxattrs > 0) return 0;
  if (!(e->type == '2' || (e->type == '0' && e->size <= t->lane_data && !e->sparse))) return 0;
  if (t->lanes) return 1;
  if (t->lanes_after > 0) {
    t->lanes_after--;
    return 0;
  }
  // Without threads the reader makes everything itself, as before.
  if (!(t->lanes = lanes_open(LANES, LANE_DEPTH, lane_run, lane_release, t))) t->lanes_after = -1;
  return t->lanes != NULL;
}

// e handed to its directory's lane (dir: that directory's fd): 0, -1 with
// *f set, or 1 where no fd could be had for the lane (EMFILE): the reader
// makes it, as without lanes.
static int lane_give(tar_reader *t, entry *e, int dir, const char *name, failure *f) {
  lane_dir *d = lane_dir_for(t, e->rel, dir);
  if (!d && errno != ENOMEM) return 1;
  if (!d) return sys_fail(f, errno, "malloc", e->rel);
  const char *link = e->type == '2' ? (e->link ? e->link : "") : "";
  size_t nlen = strlen(name) + 1, rlen = strlen(e->rel) + 1, llen = strlen(link) + 1;
  size_t size = e->type == '0' ? (size_t)e->size : 0;
  lane_task *k = task_new(t, nlen + rlen + llen + size, &e->m);
  if (!k) return sys_fail(f, ENOMEM, "malloc", e->rel);
  char *p = (char *)(k + 1);
  k->kind = e->type == '2' ? 'l' : size > 0 ? 'w' : 'f';
  k->dir = d->fd;
  k->name = memcpy(p, name, nlen);
  k->rel = memcpy(p + nlen, e->rel, rlen);
  k->link = memcpy(p + nlen + rlen, link, llen);
  k->data = (uint8_t *)p + nlen + rlen + llen;
  k->size = size;
  if (k->kind != 'l') {
    k->made = create_mode(t, e);
    made_with(t, &k->m, k->made);
  } else {
    made_with(t, &k->m, (mode_t)-1);
  }
  tally_add(t, k->kind == 'l' ? 'l' : 'f', size);
  if (size > 0) {
    // Handed over once its data is read (feed): no other entry comes between.
    t->pending = k;
    t->pending_dir = d;
    return 0;
  }
  d->last = lanes_push(t->lanes, d->lane, k);
  return 0;
}

// The entry in t->cur, its header and records read: made (a file is then
// open for its data), or a failure.
static int begin_entry(tar_reader *t, failure *f) {
  entry *e = &t->cur;
  int dotdot;
  if (lane_failure(t, f) != 0) return -1;
  if (!(e->rel = clean_name(e->name, &dotdot))) {
    if (dotdot) return tar_fail(f, CODE_INVALID_TAR, e->name, "a name with a .. component would climb out of the layer");
    return sys_fail(f, ENOMEM, "malloc", e->name);
  }
  const char *rel = e->rel;
  if (names_too_many(t, rel)) {
    size_t depth = 0;
    for (const char *p = rel; *p; p++) depth += *p == '/';
    return tar_fail(f, CODE_INVALID_TAR, NULL,
                    "a name %zu directories deep (%zu bytes: /%.32s...) before byte %llu: its parent directories without headers would take more than %zu MiB "
                    "of names to hold",
                    depth, strlen(rel), rel, (unsigned long long)t->offset, t->implied_cap >> 20);
  }
  e->type = tarhdr_kind(e->type, e->name);
  if (!strchr("0123456", e->type)) {
    const char *what = type_name(e->type);
    if (what) return tar_fail(f, CODE_UNSUPPORTED_ENTRY, rel, "unsupported tar entry type %s", what);
    return tar_fail(f, CODE_UNSUPPORTED_ENTRY, rel, "unsupported tar entry type '%c'", e->type >= 0x20 && e->type < 0x7f ? e->type : '?');
  }
  if (rel[0] && (leave_dirs(t, rel, f) != 0 || reopen_parent(t, rel, f) != 0)) return -1;
  if (rel[0] == 0) {
    if (e->type == '5') return record_dir(t, e, f);
    if (e->type == '0' && e->size == 0) return 0;
    return tar_fail(f, CODE_INVALID_TAR, rel, "the layer root must be a directory (got type '%c')", e->type);
  }
  if (t->direct) {
    int marker = direct_marker(t, e, f);
    if (marker != 0) return marker < 0 ? -1 : 0;
  }
  if (ensure_parent(t, rel, f) != 0 || claim(t, rel, f) != 0) return -1;
  t->entries++;
  const char *name;
  int dir = parent_of(&t->pc, rel, &name);
  if (dir < 0) return sys_fail(f, errno, "openat2", rel);
  if (lane_simple(t, e)) {
    int given = lane_give(t, e, dir, name, f);
    if (given <= 0) return given;
  }
  // A hardlink's target may be anywhere.
  if (e->type == '1') {
    lane_settle_all(t);
  } else {
    lane_settle(t, rel);
  }
  // A device node left out stood for a non-directory: a directory made
  // after it is made where the layer had one (clobbered).
  int was_skipped = t->skipped ? unskip(t, dir, name, rel) : 0;
  int rc = 0;
  switch (e->type) {
    case '5': {
      rc = mkdirat(dir, name, 0700);
      if (rc == 0 && was_skipped && clobbered(t, rel, f) != 0) return -1;
      if (rc != 0 && errno == EEXIST) {
        // A directory stays (its children too); anything else is replaced.
        struct stat st;
        if (lc_fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
          rc = 0;
        } else {
          if (replace(t, rel, f) != 0) return -1;
          if ((rc = mkdirat(dir, name, 0700)) == 0) {
            tally_add(t, 'd', 0);
            if (clobbered(t, rel, f) != 0) return -1;
          }
        }
      } else if (rc == 0) {
        tally_add(t, 'd', 0);
      }
      if (rc != 0) return sys_fail(f, errno, "mkdir", rel);
      return record_dir(t, e, f);
    }
    case '0': {
      int fd;
      mode_t made = create_mode(t, e);
      if (e->size == 0 && !e->sparse) {
        // An empty file needs no fd: mknod, then its metadata by name (two
        // calls where open, futimens and close were three).
        MAKE_REPLACING(lc_mknodat(dir, name, S_IFREG | made, 0));
        if (dir < 0 || rc != 0) return sys_fail(f, errno, dir < 0 ? "openat2" : "mknod", rel);
        made_with(t, &e->m, made);
        tally_add(t, 'f', 0);
        if (marker_meta_skipped(t, rel)) return 0;
        return write_set_meta_at(&t->policy, dir, name, rel, 'f', &e->m, f) != 0 ? own_rel(f) : 0;
      }
      MAKE_REPLACING((fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, made)) < 0 ? -1 : 0);
      if (dir < 0 || rc != 0) return sys_fail(f, errno, dir < 0 ? "openat2" : "open", rel);
      if (e->size > 0 && t->claims && strncmp(name, ".wh.", 4) != 0 && claims_hidden(t->claims, rel, t->layer)) {
        // A higher layer hides it: it stays, its size given without data
        // (ftruncate allocates nothing), and its data is read past. The
        // merged plan never reads it; a plan that applies the layers one by
        // one over a base (src/strategies/layered.ts) counts it at that
        // size, whether or not the higher layer's name reached the set in
        // time. Straight into the rootfs (a base under other layers) no
        // plan counts it: it is counted as written, for the same reason,
        // and a removal subtracts what was added.
        uint64_t size = e->sparse ? e->map.realsize : e->size;
        if (ftruncate(fd, (off_t)size) != 0) {
          int err = errno;
          close(fd);
          return sys_fail(f, err, "ftruncate", rel);
        }
        if (t->direct) tally_add(t, 'f', size);
        close(fd);
        slot *s = get(t, rel);
        if (!s) return sys_fail(f, ENOMEM, "malloc", rel);
        s->placeholder = 1;
        return 0;
      }
      made_with(t, &e->m, made);
      tally_add(t, 'f', e->sparse ? e->map.realsize : e->size);
      t->fd = fd;
      return 0;
    }
    case '2':
      MAKE_REPLACING(symlinkat(e->link ? e->link : "", dir, name));
      if (dir < 0 || rc != 0) return sys_fail(f, errno, dir < 0 ? "openat2" : "symlink", rel);
      tally_add(t, 'l', 0);
      made_with(t, &e->m, (mode_t)-1);
      return write_set_meta_at(&t->policy, dir, name, rel, 'l', &e->m, f) != 0 ? own_rel(f) : 0;
    case '1': {
      char *target = clean_name(e->link ? e->link : "", &dotdot);
      if (!target) {
        if (dotdot) return tar_fail(f, CODE_INVALID_TAR, rel, "hardlink target %s would climb out of the layer", e->link);
        return sys_fail(f, ENOMEM, "malloc", rel);
      }
      slot *ts = find(t, target);
      int hollow = ts && ts->placeholder;
      if (target[0] == 0 || strcmp(target, rel) == 0) {
        rc = tar_fail(f, CODE_INVALID_TAR, rel, "hardlink to %s", e->link && e->link[0] ? e->link : "nothing");
      } else if (ts && ts->skipped) {
        // A hardlink to a device node left out: left out too.
        rc = meta_device(&t->policy, ts->skipped, UINT64_MAX, rel, f) < 0 ? own_rel(f) : skip_entry(t, dir, name, rel, ts->skipped, f);
      } else if (ts && ts->placeholder && !claims_hidden(t->claims, rel, t->layer)) {
        // A name that stays, of a file made without data: read the layer again, writing everything.
        rc = tar_fail(f, CODE_RESTART_HIDDEN, rel, "hardlink to /%s, a file a higher layer hides", target);
      } else if (marker_meta_skipped(t, target)) {
        rc = tar_fail(f, CODE_RESTART_HIDDEN, rel, "hardlink to /%s, a whiteout marker made without its metadata", target);
      } else {
        rc = write_make_entry(t->root, rel, 'h', target, 0, f);
        if (rc != 0 && f->err == EEXIST) {
          if (replace(t, rel, f) != 0) {
            free(target);
            return -1;
          }
          rc = write_make_entry(t->root, rel, 'h', target, 0, f);
        }
        if (rc != 0 && f->err == ENOENT && t->direct && has_marker(target)) {
          rc = restart_for_link(f, rel, target);
        } else if (rc != 0 && f->err == ENOENT) {
          rc = tar_fail(f, CODE_INVALID_TAR, rel, "hardlink target /%s is not in this layer (above it in the tar)", target);
        } else if (rc != 0 && f->err == ELOOP) {
          // Named as the entry's fault, not as the target's ELOOP: a link is never made through a symlink.
          rc = tar_fail(f, CODE_INVALID_TAR, rel, "hardlink target /%s passes through a symlink: a hardlink names a file of the layer by its own path", target);
        } else if (rc != 0) {
          own_rel(f);
        } else {
          tally_add(t, 'h', 0);
        }
        // Reached only hidden (above): a name of the data-less inode, so a
        // hardlink that stays to it must read the layer again too.
        if (rc == 0 && hollow) {
          slot *s = get(t, rel);
          if (!s)
            rc = sys_fail(f, ENOMEM, "malloc", rel);
          else
            s->placeholder = 1;
        }
      }
      free(target);
      return rc;
    }
    default: {  // '3' '4' '6'
      mode_t kind = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
      char letter = e->type == '3' ? 'c' : e->type == '4' ? 'b' : 'p';
      dev_t dev = kind == S_IFIFO ? 0 : makedev((unsigned)e->devmajor, (unsigned)e->devminor);
      // A device node is what the policy makes of it (native/meta.h).
      int act = kind == S_IFIFO ? DEVICE_MAKE : meta_device(&t->policy, letter, (uint64_t)dev, rel, f);
      if (act < 0) return own_rel(f);
      if (act == DEVICE_SKIP) return skip_entry(t, dir, name, rel, letter, f);
      if (act == DEVICE_EMPTY) {
        int fd;
        mode_t made = create_mode(t, e);
        MAKE_REPLACING((fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, made)) < 0 ? -1 : 0);
        if (dir < 0 || rc != 0) return sys_fail(f, errno, dir < 0 ? "openat2" : "open", rel);
        made_with(t, &e->m, made);
        tally_add(t, 'f', 0);
        rc = write_set_meta_fd(&t->policy, fd, rel, &e->m, f) != 0 ? own_rel(f) : 0;
        close(fd);
        return rc;
      }
      mode_t made = create_mode(t, e);
      MAKE_REPLACING(lc_mknodat(dir, name, kind | made, dev));
      if (dir < 0) return sys_fail(f, errno, "openat2", rel);
      if (rc != 0 && kind != S_IFIFO) {
        meta_device_refused(&t->policy, errno, letter, (uint64_t)dev, rel, f);
        return own_rel(f);
      }
      if (rc != 0) return sys_fail(f, errno, "mknod", rel);
      tally_add(t, letter, 0);
      made_with(t, &e->m, made);
      return write_set_meta_at(&t->policy, dir, name, rel, letter, &e->m, f) != 0 ? own_rel(f) : 0;
    }
  }
}

// The file's data is all written: its metadata, through its fd, then close.
static int end_file(tar_reader *t, failure *f) {
  if (t->fd < 0) return 0;  // a hidden file, left without data
  int rc = 0;
  // A sparse file's last hole: the size, without data.
  if (t->cur.sparse && ftruncate(t->fd, (off_t)t->cur.map.realsize) != 0) rc = sys_fail(f, errno, "ftruncate", t->cur.rel);
  if (rc == 0 && !marker_meta_skipped(t, t->cur.rel)) rc = write_set_meta_fd(&t->policy, t->fd, t->cur.rel, &t->cur.m, f) != 0 ? own_rel(f) : 0;
  close(t->fd);
  t->fd = -1;
  return rc;
}

// Old GNU sparse segments: count (offset, numbytes) pairs of 12-byte
// numeric fields; an empty offset ends the list.
static int sparse_entries(entry *e, const uint8_t *p, int count, failure *f) {
  for (int i = 0; i < count; i++, p += 24) {
    if (p[0] == 0) break;
    int64_t off, len;
    if (tarhdr_num(p, 12, &off) != 0 || tarhdr_num(p + 12, 12, &len) != 0 || off < 0 || len < 0)
      return tar_fail(f, CODE_INVALID_TAR, e->name, "invalid sparse map (GNU)");
    if (sparse_add(&e->map, (uint64_t)off, (uint64_t)len) != 0) return tar_fail(f, CODE_INVALID_TAR, e->name, "a sparse map of too many segments");
  }
  return 0;
}

// A PAX or GNU record read whole: kept for the next header (a global
// one is not applied: tarhdr.h).
static int special_done(tar_reader *t, failure *f) {
  t->buf[t->buf_len] = 0;
  tarhdr_keep(&t->pend, t->special, t->buf, t->buf_len);
  t->buf = NULL;
  t->buf_cap = 0;
  t->state = t->pad > 0 ? S_PAD : S_HEADER;
  return 0;
}

// A complete header block in t->block, starting at byte at of the tar.
static int header(tar_reader *t, uint64_t at, failure *f) {
  const uint8_t *b = t->block;
  switch (tarhdr_place(b, &t->zero_block, &t->pend)) {
    case TARHDR_ORPHAN_RECORDS:
      return tar_fail(f, CODE_INVALID_TAR, NULL, "the tar ends after a header's records, without the header (byte %llu)", (unsigned long long)at);
    case TARHDR_END:
      t->state = S_END;
      return 0;
    case TARHDR_ZERO:
      return 0;
    case TARHDR_LONE_ZERO:
      return tar_fail(f, CODE_INVALID_TAR, NULL, "Invalid tar header at byte %llu: a lone zero block before it", (unsigned long long)at);
  }
  tarhdr h;
  const char *bad = tarhdr_check(b, &h);
  if (bad) return tar_fail(f, CODE_INVALID_TAR, NULL, "Invalid tar header at byte %llu: %s", (unsigned long long)at, bad);
  char type = h.type;
  int64_t size = h.size;
  if (tarhdr_is_record(type)) {
    char why[160];
    if (tarhdr_record_bound(&h, at, why, sizeof why) != 0) return tar_fail(f, CODE_INVALID_TAR, NULL, "%s", why);
    free(t->buf);
    if (!(t->buf = malloc((size_t)size + 1))) return sys_fail(f, ENOMEM, "malloc", NULL);
    t->buf_len = 0;
    t->buf_cap = (size_t)size;
    t->special = type;
    t->left = (uint64_t)size;
    t->pad = tarhdr_pad((uint64_t)size);
    t->state = S_SPECIAL;
    return size == 0 ? special_done(t, f) : 0;
  }
  entry *e = &t->cur;
  entry_free(e);
  e->type = type;
  tarhdr_meta hm;
  if ((bad = tarhdr_fields(b, &h, &hm))) return tar_fail(f, CODE_INVALID_TAR, NULL, "Invalid tar header at byte %llu: %s", (unsigned long long)at, bad);
  e->size = (uint64_t)size;
  e->m.mode = (mode_t)(hm.mode & 07777);
  e->m.uid = (uid_t)hm.uid;
  e->m.gid = (gid_t)hm.gid;
  e->m.mtime_sec = hm.mtime;
  e->m.atime_sec = INT64_MIN;  // none yet: the mtime, unless PAX gives one
  e->devmajor = hm.devmajor;
  e->devminor = hm.devminor;
  if (tarhdr_names(b, &h, &t->pend, &e->name, &e->link) != 0) return sys_fail(f, ENOMEM, "malloc", NULL);
  if (t->pend.pax) {
    int rc = apply_pax(t, e, t->pend.pax, t->pend.pax_len, f);
    free(t->pend.pax);
    t->pend.pax = NULL;
    if (rc != 0) {
      if (!f->rel) {
        f->owned = strdup(e->name);
        f->rel = f->owned;
      }
      return -1;
    }
  }
  if (e->m.atime_sec == INT64_MIN) {
    e->m.atime_sec = e->m.mtime_sec;
    e->m.atime_nsec = e->m.mtime_nsec;
  }
  int extended = 0;
  if (type == 'S') {
    // Old GNU sparse: four segments in the header, more in extension
    // blocks when isextended is set, the real size after them.
    int64_t real;
    if (sparse_entries(e, b + 386, 4, f) != 0) return -1;
    if (tarhdr_num(b + 483, 12, &real) != 0 || real < 0)
      return tar_fail(f, CODE_INVALID_TAR, e->name, "Invalid tar header at byte %llu: bad sparse size", (unsigned long long)at);
    e->map.realsize = (uint64_t)real;
    e->sparse = 1;
    e->type = '0';
    extended = b[482] != 0;
  }
  if (e->sparse) {
    if (e->type != '0' && e->type != '7' && e->type != 0) return tar_fail(f, CODE_INVALID_TAR, e->name, "a sparse map on an entry that is not a file");
    if (e->sparse_name) {
      free(e->name);
      e->name = e->sparse_name;
      e->sparse_name = NULL;
    }
  }
  // Header-only types carry no data, whatever their size says (tarhdr.h).
  if (tarhdr_header_only(e->type)) e->size = 0;
  if (e->map.offset_pending) return tar_fail(f, CODE_INVALID_TAR, e->name, "invalid PAX sparse map (an offset without its numbytes)");
  if (e->sparse == 1 && !extended) {
    const char *bad = sparse_check(&e->map, e->size);
    if (bad) return tar_fail(f, CODE_INVALID_TAR, e->name, "%s", bad);
  }
  if (begin_entry(t, f) != 0) return -1;
  t->left = e->size;
  t->pad = tarhdr_pad(e->size);
  if (extended) {
    t->state = S_SPARSE_EXT;
    return 0;
  }
  if (e->sparse == 2) {
    t->buf_len = 0;
    t->state = e->size > 0 ? S_SPARSE_MAP : S_DATA;
    if (e->size == 0) return tar_fail(f, CODE_INVALID_TAR, e->rel, "a sparse file without its map");
    return 0;
  }
  t->state = e->size > 0 ? S_DATA : t->pad > 0 ? S_PAD : S_HEADER;
  if (t->fd >= 0 && e->size == 0) return end_file(t, f);
  return 0;
}

// An old GNU extension block of sparse segments (21, then isextended) in
// t->block: its segments added; then the data, once the last one is read.
static int sparse_ext(tar_reader *t, failure *f) {
  entry *e = &t->cur;
  if (sparse_entries(e, t->block, 21, f) != 0) return -1;
  if (t->block[504]) return 0;
  const char *bad = sparse_check(&e->map, e->size);
  if (bad) return tar_fail(f, CODE_INVALID_TAR, e->rel, "%s", bad);
  t->state = e->size > 0 ? S_DATA : t->pad > 0 ? S_PAD : S_HEADER;
  if (e->size == 0) return end_file(t, f);
  return 0;
}

// PAX 1.0: a block of the map that starts the data, in t->block. Once the
// map is whole, the rest of the data goes to its segments.
static int sparse_map_block(tar_reader *t, failure *f) {
  entry *e = &t->cur;
  if (t->buf_len + BLOCK > MAX_SPECIAL) return tar_fail(f, CODE_INVALID_TAR, e->rel, "a sparse map of more than 1 MiB");
  size_t need = t->buf_len + BLOCK + 1;
  if (!t->buf || t->buf_cap < need) {
    char *grown = realloc(t->buf, need * 2);
    if (!grown) return sys_fail(f, ENOMEM, "malloc", e->rel);
    t->buf = grown;
    t->buf_cap = need * 2;
  }
  memcpy(t->buf + t->buf_len, t->block, BLOCK);
  t->buf_len += BLOCK;
  long used = sparse_parse_text(&e->map, t->buf, t->buf_len);
  if (used < 0) return tar_fail(f, CODE_INVALID_TAR, e->rel, "invalid sparse map (PAX 1.0)");
  if (used == 0) {
    if (t->left == 0) return tar_fail(f, CODE_INVALID_TAR, e->rel, "invalid sparse map (PAX 1.0): it runs past the data");
    return 0;
  }
  const char *bad = sparse_check(&e->map, t->left);
  if (bad) return tar_fail(f, CODE_INVALID_TAR, e->rel, "%s", bad);
  t->state = t->left > 0 ? S_DATA : t->pad > 0 ? S_PAD : S_HEADER;
  if (t->left == 0) return end_file(t, f);
  return 0;
}

// ---- the stream ------------------------------------------------------------

static int feed_now(void *ctx, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f);

tar_reader *tar_open(int root, int claims_id, int layer, int flags, const meta_policy *policy, failure *f) {
  // The layer's directory was made in a private scratch directory beside
  // ROOTFS: under a default ACL there, every entry the tar makes would
  // inherit an access ACL its layer never had (and the copy step would
  // carry it into the rootfs: docs/reliability.md, inherited ACLs). The
  // root loses both ACLs, so nothing below inherits.
  static const char *const acls[] = {"system.posix_acl_default", "system.posix_acl_access"};
  for (int i = 0; i < 2; i++) {
    if (fremovexattr(root, acls[i]) != 0 && errno != ENODATA && errno != ENOTSUP && errno != EOPNOTSUPP) {
      fail_errno(f, errno, "fremovexattr", SIDE_ROOTFS, "");
      return NULL;
    }
  }
  tar_reader *t = calloc(1, sizeof *t);
  if (!t) {
    fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, "");
    return NULL;
  }
  t->root = root;
  t->fd = -1;
  t->direct = (flags & TAR_DIRECT) != 0;
  t->marker_meta = (flags & TAR_MARKER_META) != 0;
  t->no_record = (flags & TAR_NO_RECORD) != 0;
  t->root_mode = 0755;  // a scratch directory's, where no "./" header gives one
  // LAYERCOPY_TAR_LANES: 0 never, "eager" from the first entry (tests).
  const char *env = getenv("LAYERCOPY_TAR_LANES");
  int keep = !policy || (policy->owners == OWNERS_KEEP && !policy->strict);
  t->lane_data = (flags & TAR_PLAIN) ? LANE_DATA : 0;
  t->lanes_after = !t->direct || lc_euid != 0 || !keep || (env && strcmp(env, "0") == 0) ? -1 : env && strcmp(env, "eager") == 0 ? 0 : LANES_AFTER;
  // In a setgid directory, what is made takes the directory's group (and
  // a directory its setgid bit: the whole tree does).
  struct stat st;
  t->new_uid = lc_euid;
  t->new_gid = lc_fstat(root, &st) == 0 && (st.st_mode & S_ISGID) ? st.st_gid : lc_egid;
  t->layer = layer;
  if (policy) t->policy = *policy;
  // The scratch extraction keeps a tar's own IDs: the copy out of it maps them.
  memset(&t->policy.map, 0, sizeof t->policy.map);
  t->policy.changes = &t->changes;
  if (claims_id > 0) t->claims = claims_get(claims_id);
  pc_init(&t->pc, root, O_PATH);
  // LAYERCOPY_TAR_NAMES: how many names before the first eviction (tests).
  const char *cap = getenv("LAYERCOPY_TAR_NAMES");
  t->names_cap = cap && atol(cap) > 0 ? (size_t)atol(cap) : NAMES_CAP;
  const char *implied = getenv("LAYERCOPY_TAR_IMPLIED_BYTES");
  t->implied_cap = implied && atol(implied) > 0 ? (size_t)atol(implied) : IMPLIED_BYTES_CAP;
  slot *s = NULL;
  if (grow(t) != 0 || !(s = get(t, ""))) {
    tar_close(t);
    fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, "");
    return NULL;
  }
  s->standing = 1;
  if ((flags & TAR_HASH) && !(t->hash = sha256_new())) {
    tar_close(t);
    fail_errno(f, ENOMEM, "sha256", SIDE_ROOTFS, "");
    return NULL;
  }
  // Straight into the rootfs without a claims set, the reader is the
  // provision's only one (or a base past 64 provisions at once, which have
  // no claims sets: 2 MiB more, nothing else), and the thread that feeds it
  // (inflating) has a core of its own: twice the bytes between them let each ride out the
  // other's slow stretches (a directory of small files, a big file). A
  // one-layer image 0.94x the wall time; no gain where other layers keep
  // both cores busy (docs/benchmarks.md, "Figures behind the code: The
  // reader's pipe").
  if (flags & TAR_PIPE) t->pipe = tar_pipe_start(feed_now, t, t->direct && !t->claims ? 2 * PIPE_BYTES : 0);
  return t;
}

static int feed(tar_reader *t, const uint8_t *buf, size_t len, failure *f) {
  while (len > 0) {
    size_t n = 0;
    switch (t->state) {
      case S_END:
        t->offset += len;
        return 0;
      case S_HEADER:
      case S_SPARSE_EXT:
      case S_SPARSE_MAP:
        if (t->state == S_SPARSE_MAP && t->have == 0 && t->left < BLOCK)
          return tar_fail(f, CODE_INVALID_TAR, t->cur.rel, "invalid sparse map (PAX 1.0): it runs past the data");
        n = BLOCK - t->have < len ? BLOCK - t->have : len;
        memcpy(t->block + t->have, buf, n);
        t->have += n;
        t->offset += n;
        if (t->state == S_SPARSE_MAP) t->left -= n;
        if (t->have == BLOCK) {
          t->have = 0;
          int rc = t->state == S_HEADER ? header(t, t->offset - BLOCK, f) : t->state == S_SPARSE_EXT ? sparse_ext(t, f) : sparse_map_block(t, f);
          if (rc != 0) return -1;
        }
        break;
      case S_DATA: {
        n = t->left < len ? (size_t)t->left : len;
        if (t->fd >= 0 && t->cur.sparse) {
          if (sparse_write(&t->cur.map, t->fd, buf, n) != 0) return sys_fail(f, errno, "pwrite", t->cur.rel);
        }
        if (t->pending) {
          memcpy(t->pending->data + (t->pending->size - t->left), buf, n);
        }
        if (t->fd >= 0 && !t->cur.sparse && write_all(t->fd, buf, n) != 0) return sys_fail(f, errno, "write", t->cur.rel);
        t->bytes += n;
        t->left -= n;
        t->offset += n;
        if (t->left == 0) {
          t->state = t->pad > 0 ? S_PAD : S_HEADER;
          if (t->fd >= 0 && end_file(t, f) != 0) return -1;
          if (t->pending) {
            t->pending_dir->last = lanes_push(t->lanes, t->pending_dir->lane, t->pending);
            t->pending = NULL;
          }
        }
        break;
      }
      case S_SPECIAL:
        n = t->left < len ? (size_t)t->left : len;
        memcpy(t->buf + t->buf_len, buf, n);
        t->buf_len += n;
        t->left -= n;
        t->offset += n;
        if (t->left == 0 && special_done(t, f) != 0) return -1;
        break;
      case S_PAD:
        n = t->pad < len ? (size_t)t->pad : len;
        t->pad -= n;
        t->offset += n;
        if (t->pad == 0) t->state = S_HEADER;
        break;
    }
    buf += n;
    len -= n;
  }
  return 0;
}

static int feed_now(void *ctx, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f) {
  tar_reader *t = ctx;
  if (t->failed) return tar_fail(f, CODE_INVALID_TAR, NULL, "the tar failed before");
  if (t->hash) sha256_update(t->hash, buf, len);
  if (lc_cancelled(cancel)) {
    fail_code(f, CODE_CANCELED, "tar", SIDE_ROOTFS, NULL);
    t->failed = 1;
    lanes_stop(t);
    return -1;
  }
  if (feed(t, buf, len, f) != 0) {
    t->failed = 1;
    // A lane's failure is an earlier entry's: it is the one told (lane_failure
    // replaces *f). Nothing is written once the caller has the failure (it
    // removes the tree).
    lane_settle_all(t);
    lane_failure(t, f);
    lanes_stop(t);
    return -1;
  }
  return 0;
}

// The pipe told a failure: its thread has let go of the reader, which
// answers later calls itself ("the tar failed before"), as fed on the
// caller's thread.
static int pipe_told(tar_reader *t) {
  tar_pipe_stop(t->pipe);
  t->pipe = NULL;
  t->failed = 1;
  return -1;
}

int tar_feed(tar_reader *t, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f) {
  if (!t->pipe) return feed_now(t, buf, len, cancel, f);
  return tar_pipe_feed(t->pipe, buf, len, cancel, f) == 0 ? 0 : pipe_told(t);
}

uint8_t *tar_claim(tar_reader *t, size_t cap, failure *f) {
  if (!t->pipe) {
    fail_errno(f, EINVAL, "tar", SIDE_ROOTFS, NULL);
    return NULL;
  }
  uint8_t *data = tar_pipe_claim(t->pipe, cap, f);
  if (!data) pipe_told(t);
  return data;
}

void tar_commit(tar_reader *t, uint8_t *data, size_t len, const int32_t *cancel) { tar_pipe_queue(t->pipe, data, len, cancel); }

int tar_piped(const tar_reader *t) { return t->pipe != NULL; }

static int deeper_first(const void *a, const void *b) {
  const restore_rec *x = a, *y = b;
  size_t dx = 0, dy = 0;
  for (const char *p = x->rel; *p; p++) dx += *p == '/';
  for (const char *p = y->rel; *p; p++) dy += *p == '/';
  return dx < dy ? 1 : dx > dy ? -1 : 0;
}

// The times (and mode) of the closed directories the archive came back to
// (reopen_parent), as their headers set them, where they still stand.
static int set_restores(tar_reader *t, failure *f) {
  for (size_t i = 0; i < t->nrestores; i++) {
    slot *s = find(t, t->restores[i].rel);
    // Not where it was replaced since, or set again by a later header.
    if (!s || s->restore != (int)i || !s->standing || s->born != t->restores[i].born || !alive(t, s->rel, s->born)) t->restores[i].born = UINT64_MAX;
  }
  if (t->nrestores > 1) qsort(t->restores, t->nrestores, sizeof *t->restores, deeper_first);
  for (size_t i = 0; i < t->nrestores; i++) {
    restore_rec *r = &t->restores[i];
    if (r->born == UINT64_MAX) continue;
    const char *name;
    int dir = parent_of(&t->pc, r->rel, &name);
    if (dir < 0) return sys_fail(f, errno, "openat2", r->rel);
    if (r->mode != (mode_t)-1 && fchmodat(dir, name, r->mode, 0) != 0) return sys_fail(f, errno, "chmod", r->rel);
    if (utimensat(dir, name, r->times, AT_SYMLINK_NOFOLLOW) != 0) return sys_fail(f, errno, "utimensat", r->rel);
  }
  return 0;
}

// The directories of the layer that no header gave metadata to, as packed
// names ("a\0b/c\0"; the root as ""), for the plan: such a directory
// leaves a lower layer's directory as it was, as umoci restores a parent
// after each entry written into it. NULL when out of memory.
static char *implied_dirs(tar_reader *t, size_t *len) {
  size_t cap = 256, n = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  for (size_t i = 0; i < t->nslots; i++) {
    // A standing name without a directory record was made by ensure_parent
    // (the root stands from the start: implied unless "./" had a header).
    const slot *s = &t->slots[i];
    if (!s->rel || !s->standing || s->headed) continue;
    if (s->rel[0] && !alive(t, s->rel, s->born)) continue;
    size_t k = strlen(s->rel) + 1;
    if (n + k > cap) {
      while (n + k > cap) cap *= 2;
      char *grown = realloc(out, cap);
      if (!grown) {
        free(out);
        return NULL;
      }
      out = grown;
    }
    memcpy(out + n, s->rel, k);
    n += k;
  }
  *len = n;
  return out;
}

int tar_settle(tar_reader *t, failure *f) {
  if (!t->pipe) return 0;
  int rc = tar_pipe_drain(t->pipe, f);
  tar_pipe_stop(t->pipe);
  t->pipe = NULL;
  if (rc != 0) t->failed = 1;
  return rc;
}

int tar_finish(tar_reader *t, uint64_t *entries, uint64_t *bytes, char **implied, size_t *implied_len, failure *f) {
  if (tar_settle(t, f) != 0) return -1;
  if (t->failed) return tar_fail(f, CODE_INVALID_TAR, NULL, "the tar failed before");
  // What the lanes hold is made first, and what is left the reader sets.
  lane_settle_all(t);
  if (lane_failure(t, f) != 0) {
    t->failed = 1;
    return -1;
  }
  lanes_stop(t);
  // As Go's archive/tar (umoci, containerd) ends an archive: at a header's
  // boundary, or where the last file's data ends, its padding cut short or
  // absent (umoci 0.4's `insert` writes its layers so).
  int at_end = (t->state == S_HEADER && t->have == 0) || t->state == S_PAD;
  if (t->state != S_END && !(at_end && !tarhdr_pending_any(&t->pend))) {
    t->failed = 1;
    return tar_fail(f, CODE_INVALID_TAR, t->state == S_DATA || t->state == S_SPARSE_MAP ? t->cur.rel : NULL,
                    "unexpected end of data: the tar is truncated (at byte %llu)", (unsigned long long)t->offset);
  }
  if (check_markers(t, f) != 0) {
    t->failed = 1;
    return -1;
  }
  // The directories still open, deepest first; then the times of those
  // the archive came back to (deepest first: a mode without u+x would
  // refuse the path below), and the root last.
  int rc = 0;
  while (rc == 0 && t->nopen > 0) rc = close_dir(t, t->open[--t->nopen], f);
  if (rc == 0) rc = set_restores(t, f);
  slot *root = find(t, "");
  if (rc == 0 && root && root->dir >= 0) {
    dir_rec *d = &t->dirs[root->dir];
    if (t->direct) {
      // The rootfs being built stays 0700 until it is renamed into place (docs/reliability.md).
      t->root_mode = meta_mode(&t->policy, d->m.mode);
      // Counted here, as through scratch when the root's metadata is set.
      if (meta_mode_change(&t->policy, d->m.mode, "", f) != 0) rc = own_rel(f);
      d->m.mode = 0700;
    }
    if (rc == 0 && write_set_meta(&t->policy, t->root, "", 'd', &d->m, f) != 0) rc = own_rel(f);
  }
  if (rc != 0) {
    t->failed = 1;
    return -1;
  }
  if (t->hash && sha256_final(t->hash, t->digest) != 0) {
    t->failed = 1;
    return sys_fail(f, EIO, "sha256", NULL);
  }
  *implied = implied_dirs(t, implied_len);
  if (!*implied) return sys_fail(f, ENOMEM, "malloc", NULL);
  *entries = t->entries;
  *bytes = t->bytes;
  return 0;
}

void tar_close(tar_reader *t) {
  if (!t) return;
  tar_pipe_stop(t->pipe);
  sha256_free(t->hash);
  lanes_stop(t);
  for (int i = 0; i < LANES; i++) failure_clear(&t->lane_fail[i]);
  claims_put(t->claims);
  if (t->fd >= 0) close(t->fd);
  pc_close(&t->pc);
  entry_free(&t->cur);
  free(t->buf);
  tarhdr_pending_free(&t->pend);
  for (size_t i = 0; i < t->nslots; i++) free(t->slots[i].rel);
  free(t->slots);
  for (size_t i = 0; i < t->ndirs; i++) {
    free(t->dirs[i].rel);
    free_meta(&t->dirs[i].m);
  }
  free(t->dirs);
  free(t->free_dirs);
  free(t->open);
  for (size_t i = 0; i < t->nrestores; i++) free(t->restores[i].rel);
  free(t->restores);
  meta_changes_free(&t->changes);
  free(t);
}

const meta_changes *tar_changes(const tar_reader *t) { return &t->changes; }

const write_tally *tar_tally(const tar_reader *t) { return &t->tally; }

const char *tar_digest(const tar_reader *t) { return t->digest[0] ? t->digest : NULL; }

mode_t tar_root_mode(const tar_reader *t) { return t->root_mode; }
