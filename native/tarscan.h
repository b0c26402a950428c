// The members of an uncompressed tar file (a docker-archive, an
// oci-archive), found by reading its headers only: each member's data is
// then read, or streamed, by offset. The header rules are tar.c's own
// (tarhdr.h).
#ifndef LAYERCOPY_TARSCAN_H
#define LAYERCOPY_TARSCAN_H
#include "common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *name;  // as the tar gives it (GNU long name, ustar prefix, PAX path)
  // tarhdr_kind's letter ('0' a regular file, '5' a directory, ...), or
  // 'S' for a sparse file (its data is not its contents).
  char type;
  uint64_t offset, size;  // its data in the file
} tar_member;

typedef struct {
  tar_member *v;
  size_t n, cap;
} tar_members;

// Scans the tar in fd (pread: the data of members is never read; PAX and
// GNU records are, within tarhdr.h's cap). Returns 0, or -1 with *f set:
// an errno, or CODE_INVALID_TAR with f->detail saying what is wrong and at
// which byte; a file that ends inside a header or a member's data is "cut
// short". A file that ends where a header would start, without the two
// zero blocks, is whole (GNU tar reads it with a warning). Offsets and
// sizes are below 2^53, so that they fit a JS number. limit: stop after
// that many members (0: all), as whole: telling a layer from an image
// archive needs only its first names.
int tarscan(int fd, size_t limit, tar_members *out, failure *f);
void tarscan_free(tar_members *m);

#endif
