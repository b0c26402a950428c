#include "isal.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// struct inflate_state as ISA-L 2.x's igzip_lib.h lays it out (the same
// from 2.28 to 2.32): only its size and the fields used here matter, the
// rest is opaque padding of the right length. The library is loaded at run
// time, so no igzip_lib.h is needed to build; a library whose layout
// differs fails the self-check in load() and zlib is used instead.
#define DEF_HIST_SIZE (32 * 1024)
#define LOOK_AHEAD ((258 + 31) & ~31)  // (ISAL_DEF_MAX_MATCH + 31) & ~31
#define MAX_HDR_SIZE 328               // ISAL_DEF_MAX_HDR_SIZE
// The two Huffman lookup tables (inflate_huff_code_large, _small), from
// ISAL_DECODE_LONG_BITS 12 and ISAL_DECODE_SHORT_BITS 10.
#define L_REM (21 - 12)
#define S_REM (15 - 10)
#define L_SIZE (286 + ((1 << L_REM) - (L_REM + 1)) + ((1 << L_REM) - (1 << (L_REM / 2)) - (1 << ((L_REM + 1) / 2)) + 1))
#define S_SIZE (30 + ((1 << S_REM) - (S_REM + 1)) + ((1 << S_REM) - (1 << (S_REM / 2)) - (1 << ((S_REM + 1) / 2)) + 1))
#define ALIGN16(n) ((n) + (-(n)&0xf))

struct inflate_state {
  uint8_t *next_out;
  uint32_t avail_out;
  uint32_t total_out;
  uint8_t *next_in;
  uint64_t read_in;
  uint32_t avail_in;
  int32_t read_in_length;  // bits buffered in read_in
  struct {
    uint32_t short_code_lookup[1 << 12];
    uint16_t long_code_lookup[ALIGN16(L_SIZE)];
  } lit_huff_code;
  struct {
    uint16_t short_code_lookup[1 << 10];
    uint16_t long_code_lookup[ALIGN16(S_SIZE)];
  } dist_huff_code;
  int block_state;  // enum isal_block_state
  uint32_t dict_length, bfinal, crc_flag, crc, hist_bits;
  int32_t count;  // a union of three 32-bit fields
  int32_t write_overflow_lits, write_overflow_len, copy_overflow_length, copy_overflow_distance;
  int16_t wrapper_flag, tmp_in_size;
  int32_t tmp_out_valid, tmp_out_processed;
  uint8_t tmp_in_buffer[MAX_HDR_SIZE];
  uint8_t tmp_out_buffer[2 * DEF_HIST_SIZE + LOOK_AHEAD];
};

enum { BLOCK_FINISH = 5 };  // ISAL_BLOCK_FINISH: the final block done and all its output flushed

static struct {
  void (*init)(struct inflate_state *);
  int (*inflate)(struct inflate_state *);
  int loaded;  // 1 loaded and checked, -1 missing or failed the check
} lib;

static pthread_once_t once = PTHREAD_ONCE_INIT;

struct isal_stream {
  struct inflate_state st;
  // isal_inflate_init runs before the self-check can judge the library: a
  // build whose state outgrew the declared one (87,368 bytes in 2.25-2.32)
  // writes into this, not past the allocation.
  char slack[16384];
};

static isal_stream *stream_new(void) {
  isal_stream *s = calloc(1, sizeof *s);
  if (s) lib.init(&s->st);
  return s;
}

// What the self-check inflates: raw deflate (one dynamic-Huffman block, as
// zlib -9 makes it) of check_text(), followed by 5 bytes that are not part
// of it (a gzip trailer's worth of bytes igzip must give back).
static const uint8_t check_deflate[] = {
    0x7d, 0x93, 0x41, 0x0e, 0x82, 0x30, 0x14, 0x44, 0xf7, 0x9c, 0xa2, 0x07, 0xd0, 0xc4, 0x16, 0x50, 0x3c, 0x4e, 0x2d, 0xc5, 0x8a, 0x24, 0x26, 0xea,
    0xc6, 0xdb, 0x83, 0xa4, 0x03, 0x9b, 0x99, 0xce, 0xf6, 0xcd, 0xe6, 0xbf, 0x4e, 0x27, 0xff, 0x8b, 0x6f, 0x73, 0x32, 0xaf, 0xc1, 0x7c, 0x53, 0x34,
    0x9f, 0x38, 0x0d, 0xc7, 0x90, 0x62, 0x78, 0x1e, 0x4c, 0x35, 0xad, 0xcc, 0x32, 0x76, 0xcb, 0xd0, 0x31, 0x18, 0x42, 0xa6, 0x35, 0xa3, 0x7d, 0xdf,
    0x67, 0xdc, 0x30, 0x1c, 0x97, 0x64, 0xde, 0x32, 0x3e, 0xfc, 0x93, 0x0b, 0x67, 0x56, 0xb8, 0xaf, 0xc9, 0x8d, 0x4b, 0xe1, 0xb0, 0x8e, 0xb1, 0x47,
    0x86, 0x57, 0x06, 0xc7, 0x11, 0x4e, 0xa8, 0x30, 0xef, 0x3d, 0x38, 0x97, 0xb6, 0x04, 0x05, 0x21, 0x2e, 0x6c, 0xee, 0xac, 0x92, 0xb7, 0xfb, 0xb3,
    0x4d, 0xe9, 0xd9, 0xb8, 0x3d, 0x50, 0xa1, 0x0e, 0x98, 0x7a, 0x4b, 0x29, 0x81, 0x73, 0x77, 0x4b, 0x50, 0x10, 0xfe, 0xc6, 0x4d, 0xa1, 0x53, 0x0a,
    0x77, 0x8b, 0xce, 0x16, 0xee, 0x73, 0xdc, 0x20, 0xa8, 0xb0, 0x07, 0xac, 0xa6, 0x07, 0x2e, 0xa7, 0x87, 0x82, 0x9e, 0x1e, 0x1a, 0x4a, 0xe1, 0x6e,
    0xd1, 0x75, 0xa5, 0xfb, 0xb8, 0x41, 0xfc, 0x2c, 0x61, 0x0f, 0x58, 0xed, 0x0f, 0x5c, 0xce, 0x0f, 0x05, 0xbd, 0x3e, 0x34, 0xe4, 0xef, 0xdd, 0x2c,
    0xd6, 0x6d, 0xe1, 0xbe, 0x9a, 0x1b, 0x04, 0x15, 0xf6, 0x80, 0xd5, 0xfe, 0xc0, 0xe5, 0xfc, 0xaa, 0x19, 1,    2,    3,    4,    5};
#define CHECK_DEFLATE_LEN (sizeof check_deflate - 5)
#define CHECK_TEXT_LEN 1265

// 40 numbered lines: text with repeats, so that the block holds both
// literals and back-references.
static size_t check_text(char *out, size_t cap) {
  size_t n = 0;
  for (int i = 0; i < 40 && n < cap; i++) {
    char run[8] = {0};
    memset(run, 'a' + i % 10, i % 7);
    int w = snprintf(out + n, cap - n, "layer %d of the self-check, %s\n", i, run);
    if (w < 0) return 0;
    n += (size_t)w;
  }
  return n;
}

// The declared layout, checked where it matters: a known stream inflated in
// two bounded pieces gives the known bytes, and the stream's end is found
// exactly (read_in_length's place). A mismatched library could otherwise
// write out of bounds or corrupt a layer without an error.
static int self_check(void) {
  char want[CHECK_TEXT_LEN + 16], got[CHECK_TEXT_LEN + 16];
  if (check_text(want, sizeof want) != CHECK_TEXT_LEN) return 0;
  isal_stream *s = stream_new();
  if (!s) return 0;
  size_t pos = 0, made = 0, held = 0, n = 0;
  int done = 0, ok = 1;
  for (size_t cap = 700; ok && !done && made < sizeof got; cap = sizeof got - made) {
    ok = isal_feed(s, check_deflate, sizeof check_deflate, &pos, got + made, cap, &n, &done, &held) == NULL && n > 0;
    made += n;
  }
  isal_close(s);
  return ok && done && made == CHECK_TEXT_LEN && memcmp(got, want, made) == 0 && pos - held == CHECK_DEFLATE_LEN;
}

static void load(void) {
  lib.loaded = -1;
  void *h = dlopen("libisal.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) return;
  *(void **)&lib.init = dlsym(h, "isal_inflate_init");
  *(void **)&lib.inflate = dlsym(h, "isal_inflate");
  if (!lib.init || !lib.inflate) return;
  lib.loaded = 1;
  if (!self_check()) lib.loaded = -1;
}

isal_stream *isal_open(void) {
  pthread_once(&once, load);
  if (lib.loaded != 1) {
    errno = 0;
    return NULL;
  }
  isal_stream *s = stream_new();
  if (!s) errno = ENOMEM;
  return s;
}

void isal_close(isal_stream *s) { free(s); }

static const char *message(int ret) {
  switch (ret) {
    case -1:
      return "invalid deflate block";  // ISAL_INVALID_BLOCK
    case -2:
      return "invalid code in the deflate data";  // ISAL_INVALID_SYMBOL
    case -3:
      return "invalid distance too far back";  // ISAL_INVALID_LOOKBACK
    default:
      return "invalid deflate data";
  }
}

const char *isal_feed(isal_stream *s, const void *in, size_t in_len, size_t *in_pos, void *out, size_t out_cap, size_t *out_len, int *done, size_t *held) {
  struct inflate_state *st = &s->st;
  size_t pos = *in_pos, made = 0;
  *done = st->block_state == BLOCK_FINISH;
  *held = 0;
  while (!*done && made < out_cap) {
    size_t in_left = in_len - pos, out_left = out_cap - made;
    st->next_in = (uint8_t *)in + pos;
    st->avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uint32_t)in_left;
    st->next_out = (uint8_t *)out + made;
    st->avail_out = out_left > UINT32_MAX ? UINT32_MAX : (uint32_t)out_left;
    int ret = lib.inflate(st);
    size_t pos2 = (size_t)(st->next_in - (const uint8_t *)in), made2 = (size_t)(st->next_out - (uint8_t *)out);
    if (ret < 0) return message(ret);
    int progress = pos2 != pos || made2 != made;
    pos = pos2;
    made = made2;
    if (st->block_state == BLOCK_FINISH) {
      *done = 1;
      // Whole bytes still in the bit buffer are past the final block (its
      // last bits pad out the byte they are in).
      *held = st->read_in_length > 0 ? (size_t)st->read_in_length / 8 : 0;
    } else if (pos == in_len && made < out_cap) {
      break;  // the input used up with room left: nothing is held back
    } else if (!progress) {
      return "the inflater made no progress";
    }
  }
  *in_pos = pos;
  *out_len = made;
  return NULL;
}
