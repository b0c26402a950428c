#include "sparse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Go's archive/tar reads at most as many segments as fit in its 1 MiB
// record cap; a map claiming more is refused rather than held.
#define SPARSE_MAX_SEGS (1 << 16)

int sparse_add(sparse_map *m, uint64_t off, uint64_t len) {
  if (m->n == SPARSE_MAX_SEGS) return -1;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    sparse_seg *s = realloc(m->segs, cap * sizeof *s);
    if (!s) return -1;
    m->segs = s;
    m->cap = cap;
  }
  m->segs[m->n++] = (sparse_seg){off, len};
  return 0;
}

// A decimal number ending at one of `ends`; -1 when there is none or it overflows.
static int decimal(const char **p, const char *ends, uint64_t *out) {
  const char *s = *p;
  uint64_t v = 0;
  if (*s < '0' || *s > '9') return -1;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  if (!strchr(ends, *s)) return -1;
  *p = s;
  *out = v;
  return 0;
}

int sparse_parse_list(sparse_map *m, const char *list) {
  const char *p = list;
  while (*p) {
    uint64_t off, len;
    if (decimal(&p, ",", &off) != 0 || *p++ != ',' || decimal(&p, ",", &len) != 0 || sparse_add(m, off, len) != 0) return -1;
    if (*p == ',') p++;
  }
  return 0;
}

long sparse_parse_text(sparse_map *m, const char *text, size_t len) {
  // Numbers complete only with their newline: count what the text holds.
  const char *p = text, *end = text + len;
  uint64_t count = 0, off = 0, num;
  m->n = 0;
  for (uint64_t i = 0;; i++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return 0;
    if (nl == p || (size_t)(nl - p) > 20) return -1;
    num = 0;
    for (const char *q = p; q < nl; q++) {
      if (*q < '0' || *q > '9' || num > (UINT64_MAX - 9) / 10) return -1;
      num = num * 10 + (uint64_t)(*q - '0');
    }
    p = nl + 1;
    if (i == 0) {
      if (num > SPARSE_MAX_SEGS) return -1;
      count = num;
    } else if (i % 2 == 1) {
      off = num;
    } else if (sparse_add(m, off, num) != 0) {
      return -1;
    }
    if (i == 2 * count) break;
  }
  size_t used = (size_t)(p - text);
  return (long)((used + 511) / 512 * 512);
}

const char *sparse_check(const sparse_map *m, uint64_t stored) {
  uint64_t at = 0, sum = 0;
  for (size_t i = 0; i < m->n; i++) {
    const sparse_seg *s = &m->segs[i];
    if (s->off < at) return "sparse map segments overlap or are out of order";
    if (s->len > m->realsize || s->off > m->realsize - s->len) return "a sparse map segment lies past the file's size";
    at = s->off + s->len;
    sum += s->len;
  }
  if (sum != stored) return "the sparse map does not match the data stored";
  return NULL;
}

int sparse_write(sparse_map *m, int fd, const uint8_t *buf, size_t n) {
  while (n > 0) {
    if (m->at >= m->n) {
      errno = EINVAL;
      return -1;
    }
    sparse_seg *s = &m->segs[m->at];
    uint64_t room = s->len - m->done;
    size_t k = room < n ? (size_t)room : n;
    ssize_t w = pwrite(fd, buf, k, (off_t)(s->off + m->done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    buf += w;
    n -= (size_t)w;
    m->done += (uint64_t)w;
    if (m->done == s->len) {
      m->at++;
      m->done = 0;
    }
  }
  return 0;
}

void sparse_free(sparse_map *m) {
  free(m->segs);
  memset(m, 0, sizeof *m);
}
