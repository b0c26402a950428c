// Raw deflate through Intel's ISA-L (igzip), loaded at run time (dlopen
// "libisal.so.2"): no compiler or ISA-L headers at install, nothing
// downloaded. igzip inflated the bench image's 95 MB layer in 0.20-0.22 s
// against ~0.34 s for zlib (docs/benchmarks.md, "Images"). Where the library
// is missing, or fails the self-check at load (a build whose state layout
// differs from the one declared in isal.c), callers fall back to zlib.
// Pure C, no N-API: the bench's verified floor (native/baseline/) uses it too.
#ifndef LAYERCOPY_ISAL_H
#define LAYERCOPY_ISAL_H
#include <stddef.h>

typedef struct isal_stream isal_stream;

// A new raw-deflate stream, or NULL where ISA-L cannot be loaded or failed
// its self-check (errno ENOMEM where only the allocation failed).
isal_stream *isal_open(void);
void isal_close(isal_stream *s);
// Inflates in from *in_pos on into out, at most out_cap bytes (a
// decompression bomb never makes more than that at once): *out_len bytes
// made, *in_pos advanced. Call again while input is left or the output came
// back full. *done: the final block is complete; *in_pos then stops where
// the deflate data ends, except for up to 8 bytes igzip had read ahead from
// earlier input, given back in *held (the deflate data ended *held bytes
// before the input's *in_pos). Returns NULL, or what is wrong with the data.
const char *isal_feed(isal_stream *s, const void *in, size_t in_len, size_t *in_pos, void *out, size_t out_cap, size_t *out_len, int *done, size_t *held);

#endif
