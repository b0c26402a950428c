// zstd decompression through the system's libzstd, loaded at run time
// (dlopen "libzstd.so.1"): no compiler or zstd headers at install, nothing
// downloaded; where the library is missing, JS falls back to a pure-JS
// decoder (src/images/layer.ts).
#ifndef LAYERCOPY_ZSTD_H
#define LAYERCOPY_ZSTD_H
#include <stddef.h>

typedef struct zstd_stream zstd_stream;

// A new decompression stream, or NULL when libzstd cannot be loaded.
zstd_stream *zstd_open(void);
void zstd_close(zstd_stream *z);
// Decompresses in from *in_pos on into out, at most out_cap bytes (a
// decompression bomb never makes more than that at once): *out_len bytes
// made, *in_pos advanced. Call again while input is left or the output came
// back full. *frame_done: the last frame fed so far is complete. Returns
// NULL, or an error message (libzstd's name for it).
const char *zstd_feed(zstd_stream *z, const void *in, size_t in_len, size_t *in_pos, char *out, size_t out_cap, size_t *out_len, int *frame_done);

#endif
