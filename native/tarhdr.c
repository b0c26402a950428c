// The tar header rules both readers share (tarhdr.h).
#include "tarhdr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tarhdr_num(const uint8_t *p, size_t n, int64_t *out) {
  if (p[0] & 0x80) {
    // Base-256, two's complement, big-endian (GNU, star): a negative number
    // is read inverted (-a-1 == ~a), so that its leading 0xff bytes do not
    // count against the 63 bits a value may use (as Go's archive/tar does).
    uint8_t inv = (p[0] & 0x40) ? 0xff : 0x00;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
      uint8_t c = p[i] ^ inv;
      if (i == 0) c &= 0x7f;
      if (v >> 56) return -1;
      v = (v << 8) | c;
    }
    if (v >> 63) return -1;
    *out = inv ? ~(int64_t)v : (int64_t)v;
    return 0;
  }
  size_t i = 0, end = n;
  while (i < end && (p[i] == ' ' || p[i] == 0)) i++;
  while (end > i && (p[end - 1] == ' ' || p[end - 1] == 0)) end--;
  uint64_t v = 0;
  for (; i < end; i++) {
    if (p[i] < '0' || p[i] > '7' || v >> 60) return -1;
    v = v * 8 + (uint64_t)(p[i] - '0');
  }
  *out = (int64_t)v;
  return 0;
}

int tarhdr_zero(const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

int tarhdr_place(const uint8_t *b, int *zero_before, const tarhdr_pending *p) {
  if (tarhdr_zero(b, TARHDR_BLOCK)) {
    if (tarhdr_pending_any(p)) return TARHDR_ORPHAN_RECORDS;
    if (*zero_before) return TARHDR_END;
    *zero_before = 1;
    return TARHDR_ZERO;
  }
  return *zero_before ? TARHDR_LONE_ZERO : TARHDR_HEADER;
}

const char *tarhdr_check(const uint8_t *b, tarhdr *h) {
  int64_t stored;
  // The whole block, then the checksum field taken out (it counts as 8
  // spaces): a loop without a branch per byte, which the compiler
  // vectorizes. The per-byte branch made this ~250 ns a header, 7% of the
  // CPU of a layer of 1M empty files; now ~70 ns. A signed sum (old tars)
  // differs by 256 for each byte with its high bit set.
  uint32_t all = 0, high = 0;
  for (int i = 0; i < TARHDR_BLOCK; i++) {
    all += b[i];
    high += b[i] >> 7;
  }
  for (int i = 148; i < 156; i++) {
    all -= b[i];
    high -= b[i] >> 7;
  }
  int64_t usum = (int64_t)all + 8 * ' ';
  int64_t ssum = usum - 256 * (int64_t)high;
  if (tarhdr_num(b + 148, 8, &stored) != 0 || (stored != usum && stored != ssum)) return "bad checksum (a corrupt tar, or one still compressed)";
  h->ustar = memcmp(b + 257, "ustar\0", 6) == 0;
  h->v7 = tarhdr_zero(b + 257, 8);
  if (!h->ustar && memcmp(b + 257, "ustar  \0", 8) != 0 && !h->v7) return "unknown format (magic)";
  h->type = (char)b[156];
  if (tarhdr_num(b + 124, 12, &h->size) != 0 || h->size < 0) return "bad size field";
  return NULL;
}

int tarhdr_is_record(char type) { return type == 'x' || type == 'g' || type == 'L' || type == 'K'; }

int tarhdr_record_bound(const tarhdr *h, uint64_t at, char *why, size_t why_len) {
  if (h->size <= TARHDR_MAX_SPECIAL) return 0;
  snprintf(why, why_len, "a %s of %lld bytes at byte %llu (more than 1 MiB)", h->type == 'x' || h->type == 'g' ? "PAX header" : "GNU long name",
           (long long)h->size, (unsigned long long)at);
  return -1;
}

void tarhdr_keep(tarhdr_pending *p, char type, char *buf, size_t len) {
  char **slot = type == 'x' ? &p->pax : type == 'L' ? &p->long_name : type == 'K' ? &p->long_link : NULL;
  if (!slot) {
    free(buf);
    return;
  }
  free(*slot);
  *slot = buf;  // a GNU name ends at its first NUL, as GNU tar writes it
  if (type == 'x') p->pax_len = len;
}

int tarhdr_pending_any(const tarhdr_pending *p) { return p->long_name || p->long_link || p->pax; }

void tarhdr_pending_free(tarhdr_pending *p) {
  free(p->long_name);
  free(p->long_link);
  free(p->pax);
  p->long_name = p->long_link = p->pax = NULL;
  p->pax_len = 0;
}

const char *tarhdr_fields(const uint8_t *b, const tarhdr *h, tarhdr_meta *m) {
  m->devmajor = m->devminor = 0;
  if (tarhdr_num(b + 100, 8, &m->mode) != 0 || tarhdr_num(b + 108, 8, &m->uid) != 0 || tarhdr_num(b + 116, 8, &m->gid) != 0 ||
      tarhdr_num(b + 136, 12, &m->mtime) != 0 || (!h->v7 && (tarhdr_num(b + 329, 8, &m->devmajor) != 0 || tarhdr_num(b + 337, 8, &m->devminor) != 0)))
    return "bad numeric field";
  if (m->uid < 0 || m->uid > UINT32_MAX || m->gid < 0 || m->gid > UINT32_MAX) return "owner out of range";
  return NULL;
}

// A NUL-terminated copy of a fixed-size header field.
static char *field_str(const uint8_t *p, size_t n) { return strndup((const char *)p, strnlen((const char *)p, n)); }

int tarhdr_names(const uint8_t *b, const tarhdr *h, tarhdr_pending *p, char **name, char **link) {
  if (p->long_name) {
    *name = p->long_name;
    p->long_name = NULL;
  } else if (h->ustar && b[345]) {
    char *prefix = field_str(b + 345, 155), *base = field_str(b, 100);
    *name = prefix && base ? malloc(strlen(prefix) + strlen(base) + 2) : NULL;
    if (*name) sprintf(*name, "%s/%s", prefix, base);
    free(prefix);
    free(base);
  } else {
    *name = field_str(b, 100);
  }
  if (p->long_link) {
    *link = p->long_link;
    p->long_link = NULL;
  } else {
    *link = field_str(b + 157, 100);
  }
  return *name && *link ? 0 : -1;
}

int tarhdr_pax_next(const char **pp, size_t *left, tarhdr_kv *kv) {
  const char *p = *pp;
  size_t len = *left, i = 0, n = 0;
  memset(kv, 0, sizeof *kv);
  if (len == 0) return 0;
  while (i < len && p[i] >= '0' && p[i] <= '9' && n < TARHDR_MAX_SPECIAL) n = n * 10 + (size_t)(p[i++] - '0');
  if (i == 0 || i >= len || p[i] != ' ' || n <= i + 1 || n > len || p[n - 1] != '\n') return -1;
  const char *k = p + i + 1, *end = p + n - 1;
  const char *eq = memchr(k, '=', (size_t)(end - k));
  if (!eq || eq == k) return -1;
  kv->val = eq + 1;
  kv->vlen = (size_t)(end - kv->val);
  kv->key = strndup(k, (size_t)(eq - k));
  kv->sval = strndup(kv->val, kv->vlen);
  if (!kv->key || !kv->sval) {
    tarhdr_kv_free(kv);
    return -2;
  }
  *pp = p + n;
  *left = len - n;
  return 1;
}

void tarhdr_kv_free(tarhdr_kv *kv) {
  free(kv->key);
  free(kv->sval);
  kv->key = kv->sval = NULL;
}

int tarhdr_pax_uint(const char *v, int64_t *out) {
  if (!*v) return -1;
  uint64_t x = 0;
  for (; *v; v++) {
    if (*v < '0' || *v > '9' || x > (uint64_t)INT64_MAX / 10 - 10) return -1;
    x = x * 10 + (uint64_t)(*v - '0');
  }
  *out = (int64_t)x;
  return 0;
}

int tarhdr_pax_place(tarhdr_kv *kv, char **name, char **link, uint64_t *size, char *why, size_t why_len) {
  if (strcmp(kv->key, "path") == 0 || strcmp(kv->key, "linkpath") == 0) {
    if (memchr(kv->val, 0, kv->vlen)) {
      snprintf(why, why_len, "a PAX %s with a NUL byte", kv->key);
      return -1;
    }
    char **slot = kv->key[0] == 'p' ? name : link;
    free(*slot);
    *slot = kv->sval;
    kv->sval = NULL;
    return 1;
  }
  if (strcmp(kv->key, "size") == 0) {
    int64_t v;
    if (tarhdr_pax_uint(kv->sval, &v) != 0) {
      snprintf(why, why_len, "invalid PAX %s '%.40s'", kv->key, kv->sval);
      return -1;
    }
    *size = (uint64_t)v;
    return 1;
  }
  return 0;
}

char tarhdr_kind(char type, const char *name) {
  if (type == 0) return name[0] && name[strlen(name) - 1] == '/' ? '5' : '0';
  return type == '7' ? '0' : type;
}

int tarhdr_header_only(char kind) { return kind >= '1' && kind <= '6'; }

uint64_t tarhdr_pad(uint64_t n) { return (TARHDR_BLOCK - n % TARHDR_BLOCK) % TARHDR_BLOCK; }
