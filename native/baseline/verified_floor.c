// The verified floor of `layercopy bench` on images, as a C program: every
// blob read, its size and sha256 checked, decompressed (gzip through zlib or
// ISA-L's igzip, zstd through libzstd) and the tar's sha256 (diff_id)
// checked, nothing written; the layers on THREADS threads, largest first,
// each layer's tar hashed on a thread beside the one inflating it.
// What no extractor that checks what layercopy checks can beat, at native
// speed: the same floor in Node ran 1.4x slower on the bench image
// (docs/benchmarks.md, "Images"). Every library is loaded at run time
// (libz.so.1, libisal.so.2 through ../isal.c, libzstd.so.1 through
// ../zstd.c, libcrypto for sha256): cc is all it needs to build.
//
// Usage: verified-floor zlib|isal THREADS [FILE START SIZE DIGEST DIFFID]...
//   START: where the blob starts in FILE, SIZE its length ('-': the whole
//   file, SIZE then the size to check, or '-'); DIGEST, DIFFID:
//   sha256:HEX, or '-' for none. Exits 1 naming the first layer that fails,
//   2 where a library it needs is missing.
// Not shipped as a tool: the bench compiles it with cc (src/cli/bench-process.ts).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../isal.h"
#include "../zstd.h"

#define CHUNK (1 << 20)

// ---- libraries, loaded at run time ----------------------------------------

// zlib's z_stream, as zlib.h declares it (stable since 1.0).
typedef struct {
  const uint8_t *next_in;
  unsigned avail_in;
  unsigned long total_in;
  uint8_t *next_out;
  unsigned avail_out;
  unsigned long total_out;
  const char *msg;
  void *state, *zalloc, *zfree, *opaque;
  int data_type;
  unsigned long adler, reserved;
} z_stream;

static struct {
  const char *(*version)(void);
  int (*init2)(z_stream *, int, const char *, int);
  int (*inflate)(z_stream *, int);
  int (*reset)(z_stream *);
  int (*end)(z_stream *);
  void *(*md_new)(void);
  void (*md_free)(void *);
  const void *(*sha256)(void);
  int (*init)(void *, const void *, void *);
  int (*update)(void *, const void *, size_t);
  int (*final)(void *, unsigned char *, unsigned *);
} lib;

static void need(const char *what, const char *why) {
  fprintf(stderr, "verified-floor: %s is needed (%s)\n", what, why);
  exit(2);
}

static void *sym(void *h, const char *name, const char *what) {
  void *p = dlsym(h, name);
  if (!p) need(what, name);
  return p;
}

static void load(int zlib) {
  void *c = dlopen("libcrypto.so.3", RTLD_NOW);
  if (!c) c = dlopen("libcrypto.so.1.1", RTLD_NOW);
  if (!c) need("libcrypto (OpenSSL) for sha256", dlerror());
  *(void **)&lib.md_new = sym(c, "EVP_MD_CTX_new", "libcrypto");
  *(void **)&lib.md_free = sym(c, "EVP_MD_CTX_free", "libcrypto");
  *(void **)&lib.sha256 = sym(c, "EVP_sha256", "libcrypto");
  *(void **)&lib.init = sym(c, "EVP_DigestInit_ex", "libcrypto");
  *(void **)&lib.update = sym(c, "EVP_DigestUpdate", "libcrypto");
  *(void **)&lib.final = sym(c, "EVP_DigestFinal_ex", "libcrypto");
  if (!zlib) return;
  void *z = dlopen("libz.so.1", RTLD_NOW);
  if (!z) need("zlib", dlerror());
  *(void **)&lib.version = sym(z, "zlibVersion", "zlib");
  *(void **)&lib.init2 = sym(z, "inflateInit2_", "zlib");
  *(void **)&lib.inflate = sym(z, "inflate", "zlib");
  *(void **)&lib.reset = sym(z, "inflateReset", "zlib");
  *(void **)&lib.end = sym(z, "inflateEnd", "zlib");
}

// ---- sha256 -----------------------------------------------------------------

static void *hash_new(void) {
  void *h = lib.md_new();
  if (!h || lib.init(h, lib.sha256(), NULL) != 1) need("libcrypto's sha256", "EVP_DigestInit_ex failed");
  return h;
}

// Whether the hash's digest is `want` (sha256:HEX); frees the hash.
static int hash_is(void *h, const char *want, char got[72]) {
  unsigned char md[32];
  unsigned n = 0;
  lib.final(h, md, &n);
  lib.md_free(h);
  strcpy(got, "sha256:");
  for (int i = 0; i < 32; i++) sprintf(got + 7 + 2 * i, "%02x", md[i]);
  return strcmp(got, want) == 0;
}

// ---- the tar's sha256, beside the inflating ------------------------------------

// The tar's sha256 on a thread of its own, fed through a ring of output
// buffers: a layer's inflating and hashing overlap, as they do in
// layercopy (inflate on libuv's pool, hashing on the worker). One thread
// doing both was the floor's critical path where one layer is most of an
// image.
#define RING 4
typedef struct {
  pthread_mutex_t m;
  pthread_cond_t c;
  uint8_t *buf[RING];
  size_t len[RING];
  unsigned head, tail;  // buffers filled, buffers hashed
  int stop;
  void *hash;  // NULL: nothing to check, the output is dropped
  pthread_t t;
} sink;

static void *sink_main(void *arg) {
  sink *k = arg;
  pthread_mutex_lock(&k->m);
  for (;;) {
    while (k->tail == k->head && !k->stop) pthread_cond_wait(&k->c, &k->m);
    if (k->tail == k->head) break;
    unsigned i = k->tail % RING;
    pthread_mutex_unlock(&k->m);
    if (k->hash) lib.update(k->hash, k->buf[i], k->len[i]);
    pthread_mutex_lock(&k->m);
    k->tail++;
    pthread_cond_broadcast(&k->c);
  }
  pthread_mutex_unlock(&k->m);
  return NULL;
}

static void sink_start(sink *k, void *hash) {
  k->head = k->tail = 0;
  k->stop = 0;
  k->hash = hash;
  if (pthread_create(&k->t, NULL, sink_main, k)) need("threads", "pthread_create failed");
}

// The buffer to fill next (waits while every buffer is still being hashed).
static uint8_t *sink_next(sink *k) {
  pthread_mutex_lock(&k->m);
  while (k->head - k->tail == RING) pthread_cond_wait(&k->c, &k->m);
  uint8_t *b = k->buf[k->head % RING];
  pthread_mutex_unlock(&k->m);
  return b;
}

// The buffer sink_next gave, `len` bytes of it filled, handed to the hashing.
static void sink_emit(sink *k, size_t len) {
  if (!len) return;
  pthread_mutex_lock(&k->m);
  k->len[k->head % RING] = len;
  k->head++;
  pthread_cond_broadcast(&k->c);
  pthread_mutex_unlock(&k->m);
}

// Waits until everything handed over is hashed.
static void sink_finish(sink *k) {
  pthread_mutex_lock(&k->m);
  k->stop = 1;
  pthread_cond_broadcast(&k->c);
  pthread_mutex_unlock(&k->m);
  pthread_join(k->t, NULL);
}

// ---- one layer ----------------------------------------------------------------

typedef struct {
  const char *file, *digest, *diff_id;
  off_t start, size;  // size -1: to the end of the file
  int has_start;
  off_t order;  // bytes, for largest first
} layer;

static int use_isal;

static void fail(const layer *l, const char *what) {
  fprintf(stderr, "verified-floor: %s: %s\n", l->file, what);
  exit(1);
}

// One gzip member after another: its header, raw deflate, the 8-byte
// trailer; zeros after the last member are ignored (as gunzip does).
typedef struct {
  enum { HEADER, DEFLATE, TRAILER, AFTER, ZEROS } state;
  uint8_t head[1 << 16];
  size_t head_len, trailer_left;
  z_stream z;
  isal_stream *s;
} gunzip;

// The length of a gzip header at the start of h (RFC 1952): 0 while more is needed, -1 for no header.
static long header_length(const uint8_t *h, size_t n) {
  if (n < 10) return 0;
  if (h[0] != 0x1f || h[1] != 0x8b || h[2] != 8 || (h[3] & 0xe0)) return -1;
  size_t at = 10;
  if (h[3] & 4) {
    if (n < 12) return 0;
    at += 2 + (h[10] | h[11] << 8);
  }
  for (int bit = 8; bit <= 16; bit <<= 1) {
    if (!(h[3] & bit)) continue;
    const uint8_t *end = at < n ? memchr(h + at, 0, n - at) : NULL;
    if (!end) return n >= sizeof((gunzip *)0)->head ? -1 : 0;
    at = (size_t)(end - h) + 1;
  }
  if (h[3] & 2) at += 2;
  return at <= n ? (long)at : at > sizeof((gunzip *)0)->head ? -1 : 0;
}

static void member_start(gunzip *g, const layer *l) {
  if (use_isal) {
    isal_close(g->s);
    if (!(g->s = isal_open())) need("libisal.so.2 (ISA-L)", "not found, or it failed its self-check");
  } else if (g->z.state) {
    lib.reset(&g->z);
  } else if (lib.init2(&g->z, -15, lib.version(), (int)sizeof g->z) != 0) {
    fail(l, "inflateInit2 failed");
  }
}

// Inflates in[*pos..len) into out: *made bytes; *done at the member's deflate end, with *held bytes read past it.
static void inflate_some(gunzip *g, const layer *l, const uint8_t *in, size_t len, size_t *pos, uint8_t *out, size_t *made, int *done, size_t *held) {
  *held = 0;
  if (use_isal) {
    const char *e = isal_feed(g->s, in, len, pos, out, CHUNK, made, done, held);
    if (e) fail(l, e);
    return;
  }
  g->z.next_in = in + *pos;
  g->z.avail_in = (unsigned)(len - *pos);
  g->z.next_out = out;
  g->z.avail_out = CHUNK;
  int r = lib.inflate(&g->z, 0);
  if (r < 0 && r != -5) fail(l, g->z.msg ? g->z.msg : "corrupt deflate data");  // -5: Z_BUF_ERROR, no progress possible yet
  *pos = len - g->z.avail_in;
  *made = CHUNK - g->z.avail_out;
  *done = r == 1;
}

// Feeds one chunk of the blob through the gunzip; each piece of the tar goes to the sink.
static void gunzip_feed(gunzip *g, const layer *l, const uint8_t *in, size_t len, sink *k) {
  size_t pos = 0;
  while (pos < len || g->state == DEFLATE) {
    if (g->state == HEADER) {
      size_t take = len - pos < sizeof g->head - g->head_len ? len - pos : sizeof g->head - g->head_len;
      memcpy(g->head + g->head_len, in + pos, take);
      long n = header_length(g->head, g->head_len + take);
      if (n < 0) fail(l, "not a gzip header this reads");
      if (n == 0) {
        g->head_len += take;
        return;
      }
      pos += (size_t)n - g->head_len;
      g->head_len = 0;
      member_start(g, l);
      g->state = DEFLATE;
    } else if (g->state == DEFLATE) {
      size_t made = 0, held = 0;
      int done = 0;
      size_t before = pos;
      inflate_some(g, l, in, len, &pos, sink_next(k), &made, &done, &held);
      sink_emit(k, made);
      if (done) {
        g->state = TRAILER;
        g->trailer_left = 8 - held;
      } else if (made == CHUNK) {
        continue;  // more may be waiting inside the inflater
      } else if (pos == len) {
        return;  // all of this chunk taken in, nothing held back
      } else if (pos == before && made == 0) {
        fail(l, "the inflater made no progress");
      }
    } else if (g->state == TRAILER) {
      size_t take = len - pos < g->trailer_left ? len - pos : g->trailer_left;
      pos += take;
      if (!(g->trailer_left -= take)) g->state = AFTER;
    } else if (g->state == AFTER) {
      g->state = in[pos] == 0x1f ? HEADER : ZEROS;
    } else {
      for (; pos < len; pos++)
        if (in[pos]) fail(l, "bytes after the last gzip member");
    }
  }
}

static void run_layer(const layer *l, uint8_t *buf, sink *k, gunzip *g) {
  int fd = open(l->file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) fail(l, strerror(errno));
  off_t at = l->has_start ? l->start : 0, end = l->has_start ? l->start + l->size : -1, total = 0;
  void *blob = hash_new(), *tar = NULL;
  enum { NONE, GZIP, ZSTD } kind = NONE;
  zstd_stream *zs = NULL;
  int frame_done = 1;
  g->state = HEADER;
  g->head_len = g->trailer_left = 0;
  memset(&g->z, 0, sizeof g->z);
  g->s = NULL;
  for (int first = 1;; first = 0) {
    size_t want = end < 0 || end - at > CHUNK ? CHUNK : (size_t)(end - at);
    ssize_t n = 0;
    if (want) do
        n = pread(fd, buf, want, at);
      while (n < 0 && errno == EINTR);
    if (n < 0) fail(l, strerror(errno));
    if (n == 0) break;
    if (first) {
      kind = n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b ? GZIP : n >= 4 && buf[0] == 0x28 && buf[1] == 0xb5 && buf[2] == 0x2f && buf[3] == 0xfd ? ZSTD : NONE;
      // An uncompressed layer is its own tar: one hash serves both digests.
      if (kind != NONE && strcmp(l->diff_id, "-")) tar = hash_new();
      if (kind != NONE) sink_start(k, tar);
      if (kind == ZSTD && !(zs = zstd_open())) need("libzstd.so.1", "for a zstd layer");
    }
    at += n;
    total += n;
    lib.update(blob, buf, (size_t)n);
    if (kind == GZIP) gunzip_feed(g, l, buf, (size_t)n, k);
    for (size_t pos = 0, full = 1; kind == ZSTD && (pos < (size_t)n || full);) {
      size_t made = 0;
      const char *e = zstd_feed(zs, buf, (size_t)n, &pos, (char *)sink_next(k), CHUNK, &made, &frame_done);
      if (e) fail(l, e);
      sink_emit(k, made);
      full = made == CHUNK && !frame_done;
    }
  }
  close(fd);
  if (kind != NONE) sink_finish(k);
  if ((kind == GZIP && g->state != AFTER && g->state != ZEROS) || (kind == ZSTD && !frame_done)) fail(l, "unexpected end of the compressed stream");
  if (g->z.state) lib.end(&g->z);
  isal_close(g->s);
  zstd_close(zs);
  if (l->size >= 0 && total != l->size) fail(l, "blob size does not match");
  char got[72];
  if (!hash_is(blob, l->digest, got) && strcmp(l->digest, "-")) fail(l, "blob digest does not match");
  int diff_ok = kind == NONE ? !strcmp(got, l->diff_id) : tar ? hash_is(tar, l->diff_id, got) : 1;
  if (!diff_ok && strcmp(l->diff_id, "-")) fail(l, "diff_id does not match");
}

// ---- layers on threads, largest first ------------------------------------------

static layer *layers;
static int count, next;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
  uint8_t *buf = malloc(CHUNK);
  gunzip *g = calloc(1, sizeof *g);
  sink *k = calloc(1, sizeof *k);
  if (!buf || !g || !k) need("memory", "malloc failed");
  pthread_mutex_init(&k->m, NULL);
  pthread_cond_init(&k->c, NULL);
  for (int i = 0; i < RING; i++)
    if (!(k->buf[i] = malloc(CHUNK))) need("memory", "malloc failed");
  for (;;) {
    pthread_mutex_lock(&lock);
    int i = next < count ? next++ : -1;
    pthread_mutex_unlock(&lock);
    if (i < 0) break;
    run_layer(&layers[i], buf, k, g);
  }
  for (int i = 0; i < RING; i++) free(k->buf[i]);
  free(k);
  free(buf);
  free(g);
  return arg;
}

static int larger_first(const void *a, const void *b) {
  off_t x = ((const layer *)a)->order, y = ((const layer *)b)->order;
  return x < y ? 1 : x > y ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 3 || (argc - 3) % 5 || (strcmp(argv[1], "zlib") && strcmp(argv[1], "isal"))) {
    fprintf(stderr, "usage: verified-floor zlib|isal THREADS [FILE START SIZE DIGEST DIFFID]...\n");
    return 2;
  }
  use_isal = !strcmp(argv[1], "isal");
  load(!use_isal);
  isal_stream *check = use_isal ? isal_open() : NULL;
  if (use_isal && !check) need("libisal.so.2 (ISA-L)", "not found, or it failed its self-check");
  isal_close(check);
  count = (argc - 3) / 5;
  layers = calloc(count ? count : 1, sizeof *layers);
  for (int i = 0; i < count; i++) {
    char **a = argv + 3 + 5 * i;
    layer *l = &layers[i];
    l->file = a[0];
    l->has_start = strcmp(a[1], "-") != 0;
    l->start = l->has_start ? atoll(a[1]) : 0;
    l->size = strcmp(a[2], "-") ? atoll(a[2]) : -1;
    l->digest = a[3];
    l->diff_id = a[4];
    struct stat st;
    l->order = l->size >= 0 ? l->size : stat(l->file, &st) == 0 ? st.st_size : 0;
    if (l->has_start && l->size < 0) fail(l, "a START needs a SIZE");
  }
  qsort(layers, count, sizeof *layers, larger_first);
  int threads = atoi(argv[2]);
  if (threads < 1) threads = 1;
  if (threads > count) threads = count ? count : 1;
  pthread_t *t = calloc(threads, sizeof *t);
  for (int i = 0; i < threads; i++)
    if (pthread_create(&t[i], NULL, worker, NULL)) need("threads", "pthread_create failed");
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  free(t);
  free(layers);
  return 0;
}
