// Listing one directory: names as bytes and one type letter each.
#ifndef LAYERCOPY_LIST_H
#define LAYERCOPY_LIST_H
#include "common.h"

// The entry type letters, in the order of src/core/entries.ts ENTRY_TYPES:
// regular file, directory, symlink, char device, block device, FIFO, socket
// ('?' for anything else). Exported to JS as constants.entryTypes.
#define ENTRY_TYPES "fdlcbps"
// A name starting with this is a whiteout marker (or AUFS metadata); never
// part of a packed listing. Exported as constants.whiteoutPrefix.
#define WHITEOUT_PREFIX ".wh."

typedef struct {
  char *names;  // NUL-separated
  size_t names_len;
  char *types;  // one letter per name: f d l c b p s, '?' unknown
  size_t count;
} listing;

// Lists rel beneath root_fd (never following a symlink); with unlock, a
// directory of this user's own it may not list is opened to it for the
// rest of the provision (native/unlock.h). Returns 0, or -1 with *f set;
// free with listing_free either way.
int list_dir(int root_fd, const char *rel, side_t side, int unlock, listing *out, failure *f);
void listing_free(listing *l);

// The type letter of an lstat mode.
char mode_letter(mode_t m);

#endif
