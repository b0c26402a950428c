#include "zstd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// The few libzstd calls used, declared here: the library is loaded at run
// time, so no zstd.h is needed to build (these are libzstd's stable API).
typedef struct {
  const void *src;
  size_t size, pos;
} zin;
typedef struct {
  void *dst;
  size_t size, pos;
} zout;

static struct {
  void *(*create)(void);
  size_t (*free)(void *);
  size_t (*decompress)(void *, zout *, zin *);
  unsigned (*is_error)(size_t);
  const char *(*error_name)(size_t);
  size_t (*out_size)(void);
  int loaded;  // 1 loaded, -1 missing
} lib;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void) {
  void *h = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    lib.loaded = -1;
    return;
  }
  *(void **)&lib.create = dlsym(h, "ZSTD_createDStream");
  *(void **)&lib.free = dlsym(h, "ZSTD_freeDStream");
  *(void **)&lib.decompress = dlsym(h, "ZSTD_decompressStream");
  *(void **)&lib.is_error = dlsym(h, "ZSTD_isError");
  *(void **)&lib.error_name = dlsym(h, "ZSTD_getErrorName");
  *(void **)&lib.out_size = dlsym(h, "ZSTD_DStreamOutSize");
  lib.loaded = lib.create && lib.free && lib.decompress && lib.is_error && lib.error_name && lib.out_size ? 1 : -1;
}

struct zstd_stream {
  void *ds;
};

zstd_stream *zstd_open(void) {
  pthread_once(&once, load);
  if (lib.loaded != 1) return NULL;
  zstd_stream *z = calloc(1, sizeof *z);
  if (!z) return NULL;
  // A new DStream starts ready for a frame: no ZSTD_initDStream needed.
  if (!(z->ds = lib.create())) {
    free(z);
    return NULL;
  }
  return z;
}

void zstd_close(zstd_stream *z) {
  if (!z) return;
  lib.free(z->ds);
  free(z);
}

const char *zstd_feed(zstd_stream *z, const void *in, size_t in_len, size_t *in_pos, char *out, size_t out_cap, size_t *out_len, int *frame_done) {
  zin src = {in, in_len, *in_pos};
  zout dst = {out, out_cap, 0};
  size_t ret = 1;
  while (dst.pos < dst.size) {
    ret = lib.decompress(z->ds, &dst, &src);
    if (lib.is_error(ret)) return lib.error_name(ret);
    // Done for now when the input is used up and the output had room
    // (nothing left buffered); another call past a frame's end would start
    // reading the next one.
    if (src.pos == src.size && (ret == 0 || dst.pos < dst.size)) break;
  }
  *in_pos = src.pos;
  *out_len = dst.pos;
  *frame_done = ret == 0;
  return NULL;
}
