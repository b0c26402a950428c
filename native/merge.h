// One directory of the merged plan where several layers contribute: the
// per-name decisions of src/strategies/merged-plan.ts's MergedDirectory
// (the reference, kept beside it and held equal by a test), made here on
// the listings themselves so that no JS string is made per name. On the
// overlapping Debian image 504 of the 827 directories walked have several
// contributing layers.
#ifndef LAYERCOPY_MERGE_H
#define LAYERCOPY_MERGE_H
#include "common.h"
#include "list.h"

#include <stddef.h>
#include <stdint.h>

// Why a listing was refused (validateListing's rules): a marker that is not
// a regular file, a marker naming nothing (.wh., .wh.., .wh...), an entry
// of unknown type.
typedef enum { MERGE_OK = 0, MERGE_MARKER_TYPE, MERGE_MARKER_NOTHING, MERGE_UNKNOWN_TYPE } merge_invalid;

typedef struct {
  size_t n;  // contributing layers, highest first (positions 0..n-1)
  // Per position: the non-directories it gives, packed (each name then a
  // NUL) with their type letters; what its markers hid and what its
  // entries replaced.
  char **files;
  size_t *files_len;
  char **types;
  size_t *types_len;
  long *whiteouts;
  long *replaced;
  // The subdirectories, packed, in the order first met; for each, its
  // contributing layers' positions, highest first, each + 1, then a 0.
  char *dirs;
  size_t dirs_len;
  uint16_t *dir_layers;
  size_t dir_layers_len;
  // A refused listing: its position and the entry (in listings, valid
  // until merge_free).
  merge_invalid invalid;
  size_t at;
  const char *name;
  listing *listings;
} merge_out;

// Lists rel in roots[0..n-1] (highest first) until an opaque marker closes
// the directory, and decides every name. Returns 0 (out->invalid may be
// set: nothing else is), or -1 with *f set and out->at the position whose
// listing failed (ENOMEM: at == n; mergeDir names the highest layer then).
// Free out with merge_free either way.
int merge_dir(const int *roots, size_t n, const char *rel, int unlock, merge_out *out, failure *f);
void merge_free(merge_out *out);

#endif
