// Sparse files in tar layers (GNU's formats: the old 'S' type, PAX 0.0,
// 0.1 and 1.0): the map of data segments, and the data written to them so
// that the holes stay holes.
#ifndef LAYERCOPY_SPARSE_H
#define LAYERCOPY_SPARSE_H
#include "common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint64_t off, len;
} sparse_seg;

typedef struct {
  sparse_seg *segs;
  size_t n, cap;
  uint64_t realsize;
  int offset_pending;  // PAX 0.0: a GNU.sparse.offset waits for its numbytes
  size_t at;           // writing: the segment reached, and bytes of it written
  uint64_t done;
} sparse_map;

// Adds a segment; -1 when out of memory or past SPARSE_MAX_SEGS.
int sparse_add(sparse_map *m, uint64_t off, uint64_t len);
// PAX 0.1's GNU.sparse.map ("offset,numbytes,..."); -1 when malformed.
int sparse_parse_list(sparse_map *m, const char *list);
// PAX 1.0: the map at the start of the data, decimal numbers one a line
// (the count, then offset and numbytes pairs), padded to 512 bytes. Given
// the bytes read so far, returns the map's length with its padding once
// whole, 0 while more are needed, -1 when malformed.
long sparse_parse_text(sparse_map *m, const char *text, size_t len);
// NULL when the segments are in order, apart, within the real size and
// hold exactly `stored` data bytes; else what is wrong.
const char *sparse_check(const sparse_map *m, uint64_t stored);
// Writes the next n data bytes to their places in fd (pwrite). -1 with
// errno set.
int sparse_write(sparse_map *m, int fd, const uint8_t *buf, size_t n);
void sparse_free(sparse_map *m);

#endif
