// The members of a tar file by its headers (tarscan.h): one header read
// where each is due, the data of members skipped by offset. Every rule
// about a header is tarhdr.c's, which the streaming extractor (tar.c)
// follows too: an archive is read as its layers are.
#include "tarscan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"
#include "tarhdr.h"

// The largest integer a JS number holds exactly (2^53 - 1).
#define MAX_SAFE ((UINT64_C(1) << 53) - 1)

typedef unsigned long long ull;

static int scan_fail(failure *f, const char *fmt, ...) {
  fail_code(f, CODE_INVALID_TAR, "tar", SIDE_LAYER, NULL);
  va_list ap;
  va_start(ap, fmt);
  fail_vdetail(f, fmt, ap);
  va_end(ap);
  return -1;
}

// Up to n bytes at off; fewer only where the file ends. -1 with errno set.
static ssize_t read_at(int fd, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

typedef struct {
  int fd;
  uint64_t end;  // the file's size
  failure *f;
} scan;

// One block at off: 1, 0 where the file ends before it is whole, -1 after failing.
static int block_at(scan *s, uint8_t *b, uint64_t off) {
  ssize_t r = read_at(s->fd, b, TARHDR_BLOCK, off);
  if (r < 0) {
    fail_errno(s->f, errno, "pread", SIDE_LAYER, NULL);
    return -1;
  }
  return r == TARHDR_BLOCK;
}

// A record's data (len bytes at off, len within the cap) malloc'd with a NUL after it; NULL after failing.
static char *record_at(scan *s, const tarhdr *h, uint64_t at, uint64_t len) {
  const char *what = h->type == 'x' || h->type == 'g' ? "PAX header" : "GNU long name";
  if (at + TARHDR_BLOCK + len > s->end) {
    scan_fail(s->f, "the archive is cut short: the %s at offset %llu needs %llu bytes at offset %llu, the file ends at %llu", what, (ull)at, (ull)len,
              (ull)(at + TARHDR_BLOCK), (ull)s->end);
    return NULL;
  }
  char *buf = malloc(len + 1);
  if (!buf) {
    fail_errno(s->f, ENOMEM, "malloc", SIDE_LAYER, NULL);
    return NULL;
  }
  ssize_t r = read_at(s->fd, buf, len, at + TARHDR_BLOCK);
  if (r < 0 || (uint64_t)r != len) {
    if (r < 0)
      fail_errno(s->f, errno, "pread", SIDE_LAYER, NULL);
    else
      scan_fail(s->f, "the archive is cut short: the %s at offset %llu needs %llu bytes at offset %llu, the file ends at %llu", what, (ull)at, (ull)len,
                (ull)(at + TARHDR_BLOCK), (ull)(at + TARHDR_BLOCK + (uint64_t)r));
    free(buf);
    return NULL;
  }
  buf[len] = 0;
  return buf;
}

// The PAX records before the header at `at` applied to the member: its
// name, link target and size (tarhdr.c), and whether it is sparse (any
// GNU.sparse.* record: GNU tar writes them for sparse files only).
static int apply_pax(scan *s, const tarhdr_pending *p, uint64_t at, char **name, char **link, uint64_t *size, int *sparse) {
  const char *rec = p->pax;
  size_t left = p->pax_len;
  tarhdr_kv kv;
  int next;
  while ((next = tarhdr_pax_next(&rec, &left, &kv)) == 1) {
    char why[160];
    int placed = tarhdr_pax_place(&kv, name, link, size, why, sizeof why);
    if (placed == 0 && strncmp(kv.key, "GNU.sparse.", 11) == 0) *sparse = 1;
    tarhdr_kv_free(&kv);
    if (placed < 0) return scan_fail(s->f, "%s (the PAX header before the header at offset %llu)", why, (ull)at);
  }
  if (next == -2) {
    fail_errno(s->f, ENOMEM, "malloc", SIDE_LAYER, NULL);
    return -1;
  }
  if (next == -1) return scan_fail(s->f, "invalid PAX record in the PAX header before the header at offset %llu", (ull)at);
  return 0;
}

static int add(tar_members *m, char *name, char type, uint64_t offset, uint64_t size) {
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    tar_member *v = realloc(m->v, cap * sizeof *v);
    if (!v) return -1;
    m->v = v;
    m->cap = cap;
  }
  m->v[m->n++] = (tar_member){.name = name, .type = type, .offset = offset, .size = size};
  return 0;
}

// The entry whose header is in b, at `at`: added to out. *next: where the
// next header is due. 0, or -1 after failing.
static int entry(scan *s, const uint8_t *b, const tarhdr *h, uint64_t at, tarhdr_pending *p, tar_members *out, uint64_t *next) {
  tarhdr_meta hm;
  const char *bad = tarhdr_fields(b, h, &hm);
  if (bad) return scan_fail(s->f, "bad tar header at offset %llu: %s", (ull)at, bad);
  char *name = NULL, *link = NULL;
  uint64_t size = (uint64_t)h->size;
  int sparse = h->type == 'S', rc = -1;
  if (tarhdr_names(b, h, p, &name, &link) != 0) {
    fail_errno(s->f, ENOMEM, "malloc", SIDE_LAYER, NULL);
    goto done;
  }
  if (p->pax) {
    int applied = apply_pax(s, p, at, &name, &link, &size, &sparse);
    free(p->pax);
    p->pax = NULL;
    if (applied != 0) goto done;
  }
  if (tarhdr_header_only(h->type)) size = 0;
  uint64_t data = at + TARHDR_BLOCK;
  // Old GNU sparse: extension blocks of its map follow the header while
  // isextended is set; the data comes after them.
  for (int extended = h->type == 'S' && b[482]; extended; data += TARHDR_BLOCK) {
    uint8_t ext[TARHDR_BLOCK];
    int got = block_at(s, ext, data);
    if (got < 0) goto done;
    if (got == 0) {
      scan_fail(s->f, "the archive is cut short: the sparse map of member %.256s needs 512 bytes at offset %llu, the file ends at %llu", name, (ull)data,
                (ull)s->end);
      goto done;
    }
    extended = ext[504] != 0;
  }
  if (size > MAX_SAFE || data + size > MAX_SAFE) {
    scan_fail(s->f, "member %.256s at offset %llu: %llu bytes at offset %llu is past 2^53, more than layercopy addresses", name, (ull)at, (ull)size, (ull)data);
    goto done;
  }
  if (data + size > s->end) {
    scan_fail(s->f, "the archive is cut short: member %.256s needs %llu bytes at offset %llu, the file ends at %llu", name, (ull)size, (ull)data, (ull)s->end);
    goto done;
  }
  *next = data + size + tarhdr_pad(size);
  if (*next > s->end) {
    scan_fail(s->f, "the archive is cut short: member %.256s ends at offset %llu without its padding to a 512-byte block, the file ends at %llu", name,
              (ull)(data + size), (ull)s->end);
    goto done;
  }
  if (add(out, name, sparse ? 'S' : tarhdr_kind(h->type, name), data, size) != 0) {
    fail_errno(s->f, ENOMEM, "malloc", SIDE_LAYER, NULL);
    goto done;
  }
  name = NULL;
  rc = 0;
done:
  free(name);
  free(link);
  return rc;
}

int tarscan(int fd, size_t limit, tar_members *out, failure *f) {
  struct stat st;
  memset(out, 0, sizeof *out);
  if (lc_fstat(fd, &st) != 0) {
    fail_errno(f, errno, "fstat", SIDE_LAYER, NULL);
    return -1;
  }
  scan s = {fd, (uint64_t)st.st_size, f};
  tarhdr_pending p = {0};
  uint8_t b[TARHDR_BLOCK];
  uint64_t at = 0;
  int zero = 0, rc = -1;
  for (;;) {
    if (at == s.end) {
      // Whole, without the end-of-archive blocks, unless records wait for their header.
      if (tarhdr_pending_any(&p)) {
        scan_fail(f, "the archive is cut short: it ends at offset %llu after a header's records, without the header", (ull)at);
        break;
      }
      rc = 0;
      break;
    }
    int got = block_at(&s, b, at);
    if (got < 0) break;
    if (got == 0) {
      scan_fail(f, "the archive is cut short: a header at offset %llu needs 512 bytes, the file ends at %llu", (ull)at, (ull)s.end);
      break;
    }
    int place = tarhdr_place(b, &zero, &p);
    if (place == TARHDR_END) {
      rc = 0;
      break;
    }
    if (place == TARHDR_ZERO) {
      at += TARHDR_BLOCK;
      continue;
    }
    if (place == TARHDR_ORPHAN_RECORDS) {
      scan_fail(f, "a zero block at offset %llu after a header's records, without the header", (ull)at);
      break;
    }
    if (place == TARHDR_LONE_ZERO) {
      scan_fail(f, "bad tar header at offset %llu: a lone zero block before it", (ull)at);
      break;
    }
    tarhdr h;
    const char *bad = tarhdr_check(b, &h);
    if (bad) {
      scan_fail(f, "bad tar header at offset %llu: %s", (ull)at, bad);
      break;
    }
    if (tarhdr_is_record(h.type)) {
      char why[160];
      if (tarhdr_record_bound(&h, at, why, sizeof why) != 0) {
        scan_fail(f, "%s", why);
        break;
      }
      char *rec = record_at(&s, &h, at, (uint64_t)h.size);
      if (!rec) break;
      tarhdr_keep(&p, h.type, rec, (size_t)h.size);
      at += TARHDR_BLOCK + (uint64_t)h.size + tarhdr_pad((uint64_t)h.size);
      continue;
    }
    if (entry(&s, b, &h, at, &p, out, &at) != 0) break;
    if (limit != 0 && out->n >= limit) {
      rc = 0;
      break;
    }
  }
  tarhdr_pending_free(&p);
  if (rc != 0) tarscan_free(out);
  return rc;
}

void tarscan_free(tar_members *m) {
  for (size_t i = 0; i < m->n; i++) free(m->v[i].name);
  free(m->v);
  memset(m, 0, sizeof *m);
}
