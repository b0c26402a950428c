// Extracting a layer's tar stream beneath a root fd, fed in chunks as it is
// decompressed: ustar, GNU long names and links, PAX. What the tar holds is
// written as an extracted layer directory (whiteout markers stay files).
#ifndef LAYERCOPY_TAR_H
#define LAYERCOPY_TAR_H
#include "common.h"
#include "meta.h"
#include "write.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tar_reader tar_reader;

// A reader writing beneath root (borrowed: it must stay open until
// tar_close), which loses its ACLs first. With a claims set (claims_id > 0,
// native/claims.h), it is layer `layer` of a provision whose tar layers are
// read at once: it tells the set what it holds, and a file a higher layer
// already hides is made at its size without data (a hardlink to one that
// must be kept fails with CODE_RESTART_HIDDEN: read the layer again
// without the set). Entries get their metadata by policy (NULL: keep, devices error),
// and what it changes is counted (tar_changes). NULL with *f set on
// failure.
//
// flags: TAR_NO_RECORD, the set is only asked (no layer below this one
// reads it); TAR_DIRECT, root is the rootfs being built from this one
// layer, not a scratch directory: whiteout markers are checked and not
// written (CODE_INVALID_WHITEOUT), the root's own metadata is set but its
// mode left 0700 (tar_root_mode), and a directory replaced by another kind,
// or a hardlink to a marker, fails with CODE_RESTART (read it again into a
// scratch directory).
// TAR_PLAIN: the tar is read as it is, not inflated (lanes then take small
// files with data too: tar.c, LANE_DATA).
#define TAR_DIRECT 1
#define TAR_NO_RECORD 2
#define TAR_PLAIN 4
// TAR_HASH: every byte fed is hashed (a compressed layer's diff_id), on the
// thread that feeds the reader; tar_digest gives it after tar_finish. Only
// where sha256_available() (native/sha256.h).
#define TAR_HASH 8
// TAR_PIPE: fed on a thread of its own (native/tarpipe.h): tar_feed queues
// a copy of the chunk and returns; a failure comes back on a later call or
// from tar_finish. Without a thread (none could start) it is fed at once.
#define TAR_PIPE 16
// TAR_MARKER_META: whiteout markers (.wh.*) written into a scratch directory
// get their metadata too. Without it they get none (tar.c,
// marker_meta_skipped), and a hardlink to one fails with CODE_RESTART_HIDDEN:
// the layer is read again with it.
#define TAR_MARKER_META 32
tar_reader *tar_open(int root, int claims_id, int layer, int flags, const meta_policy *policy, failure *f);
// What the policy changed so far.
const meta_changes *tar_changes(const tar_reader *t);
// The tree beneath root as it stands (write_tally).
const write_tally *tar_tally(const tar_reader *t);
// TAR_HASH, after tar_finish: "sha256:<hex>" of every byte fed; else NULL.
const char *tar_digest(const tar_reader *t);
// TAR_DIRECT, after tar_finish: the mode the root takes when it is renamed into place.
mode_t tar_root_mode(const tar_reader *t);
// Parses and writes the next len bytes of the tar. Returns 0, or -1 with
// *f set (an errno, or CODE_INVALID_TAR / CODE_UNSUPPORTED_ENTRY with
// f->detail); after a failure every call fails again.
int tar_feed(tar_reader *t, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f);
// The input ended: fails if it ended inside an entry; else sets the
// directories' metadata (deepest first) and gives the counts, and the
// directories no header described (packed names, malloc'd: *implied).
// TAR_PIPE: waits until every chunk queued is fed and ends the thread
// (later chunks are fed at once). -1 with *f: a failure of those chunks
// not told yet. 0 without a thread.
int tar_settle(tar_reader *t, failure *f);
// TAR_PIPE (tar_piped): a buffer of `cap` bytes in the reader's queue to
// write into, then tar_commit (len 0: unused); fed as tar_feed feeds a
// copy. NULL with *f as tar_feed fails (the reader answers later calls).
uint8_t *tar_claim(tar_reader *t, size_t cap, failure *f);
void tar_commit(tar_reader *t, uint8_t *data, size_t len, const int32_t *cancel);
int tar_piped(const tar_reader *t);
int tar_finish(tar_reader *t, uint64_t *entries, uint64_t *bytes, char **implied, size_t *implied_len, failure *f);
// Closes what is open and frees t (NULL is fine).
void tar_close(tar_reader *t);

#endif
