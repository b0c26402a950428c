#include "merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "whiteout.h"

// Names by hash, open addressing: idx into the decided or the hidden array.
typedef struct {
  const char *name;
  size_t len;
  uint32_t hash;
  int32_t idx;
} slot;

typedef struct {
  slot *s;
  size_t cap, used;
} table;

// A name the highest layer that has it decided. Directories keep the chain
// of layers merged into them (nodes in chain[], head to tail).
typedef struct {
  const char *name;
  size_t len;
  char type;
  char sealed;  // no lower layer contributes any more
  size_t pos;
  int32_t head, tail;
} decided;

typedef struct {
  uint16_t pos;
  int32_t next;
} link_node;

// A name a higher layer's marker hides: that marker's position, and whether it was counted.
typedef struct {
  size_t pos;
  char counted;
} hidden;

typedef struct {
  table names, marks;
  decided *dec;
  size_t ndec, cdec;
  hidden *hid;
  size_t nhid, chid;
  link_node *chain;
  size_t nchain, cchain;
} state;

static uint32_t hash_name(const char *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

static int table_grow(table *t) {
  size_t cap = t->cap ? t->cap * 2 : 64;
  slot *s = calloc(cap, sizeof *s);
  if (!s) return -1;
  for (size_t i = 0; i < t->cap; i++) {
    if (!t->s[i].name) continue;
    size_t j = t->s[i].hash & (cap - 1);
    while (s[j].name) j = (j + 1) & (cap - 1);
    s[j] = t->s[i];
  }
  free(t->s);
  t->s = s;
  t->cap = cap;
  return 0;
}

// The slot of name: its entry's, or the empty one it would take.
static slot *table_find(table *t, const char *name, size_t len, uint32_t h) {
  if (t->cap == 0) return NULL;
  size_t j = h & (t->cap - 1);
  while (t->s[j].name) {
    if (t->s[j].hash == h && t->s[j].len == len && memcmp(t->s[j].name, name, len) == 0) return &t->s[j];
    j = (j + 1) & (t->cap - 1);
  }
  return &t->s[j];
}

static int table_put(table *t, const char *name, size_t len, uint32_t h, int32_t idx) {
  if ((t->used + 1) * 2 > t->cap && table_grow(t) != 0) return -1;
  slot *s = table_find(t, name, len, h);
  *s = (slot){name, len, h, idx};
  t->used++;
  return 0;
}

static int reserve(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap * 2 : 64;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * size);
  if (!q) return -1;
  *p = q;
  *cap = n;
  return 0;
}

static int chain_add(state *s, decided *d, size_t pos) {
  if (reserve((void **)&s->chain, &s->cchain, s->nchain + 1, sizeof *s->chain) != 0) return -1;
  int32_t at = (int32_t)s->nchain++;
  s->chain[at] = (link_node){(uint16_t)pos, -1};
  if (d->tail >= 0)
    s->chain[d->tail].next = at;
  else
    d->head = at;
  d->tail = at;
  return 0;
}

// validateListing's rules, in its order: markers first, then unknown types.
static int refused(const listing *l, merge_out *out, size_t pos) {
  const char *p = l->names;
  for (size_t i = 0; i < l->count; i++) {
    size_t len = strlen(p);
    wh_kind k = wh_name(p, len);
    if (k != WH_NONE && k != WH_AUFS && (l->types[i] != 'f' || k == WH_NOTHING)) {
      out->invalid = l->types[i] != 'f' ? MERGE_MARKER_TYPE : MERGE_MARKER_NOTHING;
      out->at = pos;
      out->name = p;
      return 1;
    }
    p += len + 1;
  }
  p = l->names;
  for (size_t i = 0; i < l->count; i++) {
    if (l->types[i] == '?') {
      out->invalid = MERGE_UNKNOWN_TYPE;
      out->at = pos;
      out->name = p;
      return 1;
    }
    p += strlen(p) + 1;
  }
  return 0;
}

// One layer's listing, below every layer already added (MergedDirectory.add).
// Returns 1 when its opaque marker closed the directory, 0, or -1 (ENOMEM).
static int add_layer(state *s, merge_out *out, const listing *l, size_t pos) {
  int opaque = 0;
  const char *p = l->names;
  for (size_t i = 0; i < l->count; p += strlen(p) + 1, i++) {
    size_t len = strlen(p);
    char type = l->types[i];
    if (len >= 4 && memcmp(p, WHITEOUT_PREFIX, 4) == 0) {
      if (wh_name(p, len) == WH_OPAQUE) opaque = 1;
      continue;
    }
    uint32_t h = hash_name(p, len);
    slot *sl = table_find(&s->names, p, len, h);
    if (sl && sl->name) {
      decided *d = &s->dec[sl->idx];
      if (d->type == 'd' && !d->sealed) {
        if (type == 'd') {
          if (chain_add(s, d, pos) != 0) return -1;
        } else {
          d->sealed = 1;  // a lower non-directory: what lies below it is gone too
        }
      }
      if (!(d->type == 'd' && type == 'd')) out->replaced[d->pos]++;
      continue;
    }
    slot *m = table_find(&s->marks, p, len, h);
    if (m && m->name) {
      hidden *w = &s->hid[m->idx];
      if (!w->counted) {  // each marker once, however many lower layers hold the name
        w->counted = 1;
        out->whiteouts[w->pos]++;
      }
      continue;
    }
    if (reserve((void **)&s->dec, &s->cdec, s->ndec + 1, sizeof *s->dec) != 0) return -1;
    decided *d = &s->dec[s->ndec];
    *d = (decided){p, len, type, type != 'd', pos, -1, -1};
    if (type == 'd' && chain_add(s, d, pos) != 0) return -1;
    if (table_put(&s->names, p, len, h, (int32_t)s->ndec++) != 0) return -1;
  }
  // The layer's markers hide lower layers only: applied after its entries.
  p = l->names;
  for (size_t i = 0; i < l->count; p += strlen(p) + 1, i++) {
    size_t len = strlen(p);
    if (wh_name(p, len) != WH_HIDES) continue;
    const char *t = p + 4;
    uint32_t h = hash_name(t, len - 4);
    slot *sl = table_find(&s->names, t, len - 4, h);
    if (sl && sl->name) {
      s->dec[sl->idx].sealed = 1;
      continue;
    }
    slot *m = table_find(&s->marks, t, len - 4, h);
    if (m && m->name) continue;
    if (reserve((void **)&s->hid, &s->chid, s->nhid + 1, sizeof *s->hid) != 0) return -1;
    s->hid[s->nhid] = (hidden){pos, 0};
    if (table_put(&s->marks, t, len - 4, h, (int32_t)s->nhid++) != 0) return -1;
  }
  return opaque;
}

static int append(char **buf, size_t *len, size_t *cap, const void *p, size_t n) {
  if (reserve((void **)buf, cap, *len + n, 1) != 0) return -1;
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

// The decided names into the output, in the order first met (MergedDirectory.finish).
static int emit(state *s, merge_out *out) {
  size_t *fcap = calloc(out->n, sizeof *fcap), *tcap = calloc(out->n, sizeof *tcap);
  size_t dcap = 0, lcap = 0;
  int rc = fcap && tcap ? 0 : -1;
  for (size_t i = 0; i < s->ndec && rc == 0; i++) {
    decided *d = &s->dec[i];
    if (d->type == 'd') {
      rc = append(&out->dirs, &out->dirs_len, &dcap, d->name, d->len + 1);
      for (int32_t c = d->head; c >= 0 && rc == 0; c = s->chain[c].next) {
        if (reserve((void **)&out->dir_layers, &lcap, out->dir_layers_len + 2, sizeof *out->dir_layers) != 0) rc = -1;
        if (rc == 0) out->dir_layers[out->dir_layers_len++] = (uint16_t)(s->chain[c].pos + 1);
      }
      if (rc == 0) out->dir_layers[out->dir_layers_len++] = 0;
    } else {
      rc = append(&out->files[d->pos], &out->files_len[d->pos], &fcap[d->pos], d->name, d->len + 1);
      if (rc == 0) rc = append(&out->types[d->pos], &out->types_len[d->pos], &tcap[d->pos], &d->type, 1);
    }
  }
  free(fcap);
  free(tcap);
  return rc;
}

int merge_dir(const int *roots, size_t n, const char *rel, int unlock, merge_out *out, failure *f) {
  memset(out, 0, sizeof *out);
  out->n = n;
  out->at = n;
  out->files = calloc(n, sizeof *out->files);
  out->files_len = calloc(n, sizeof *out->files_len);
  out->types = calloc(n, sizeof *out->types);
  out->types_len = calloc(n, sizeof *out->types_len);
  out->whiteouts = calloc(n, sizeof *out->whiteouts);
  out->replaced = calloc(n, sizeof *out->replaced);
  out->listings = calloc(n, sizeof *out->listings);
  state s = {0};
  int rc = 0;
  if (!out->files || !out->files_len || !out->types || !out->types_len || !out->whiteouts || !out->replaced || !out->listings || n > UINT16_MAX - 1) {
    fail_errno(f, ENOMEM, "malloc", SIDE_LAYER, rel);
    return -1;
  }
  size_t k = 0;
  long opaque_pos = -1;
  for (; k < n && opaque_pos < 0; k++) {
    if (list_dir(roots[k], rel, SIDE_LAYER, unlock, &out->listings[k], f) != 0) {
      out->at = k;
      rc = -1;
      break;
    }
    if (refused(&out->listings[k], out, k)) break;
    int closed = add_layer(&s, out, &out->listings[k], k);
    if (closed < 0) {
      rc = -1;
      fail_errno(f, ENOMEM, "malloc", SIDE_LAYER, rel);
      break;
    }
    if (closed) opaque_pos = (long)k;
  }
  // An opaque marker that left a lower contributing layer unread hid it: counted once.
  if (rc == 0 && !out->invalid && opaque_pos >= 0 && k < n) out->whiteouts[opaque_pos]++;
  if (rc == 0 && !out->invalid && emit(&s, out) != 0) {
    rc = -1;
    fail_errno(f, ENOMEM, "malloc", SIDE_LAYER, rel);
  }
  free(s.names.s);
  free(s.marks.s);
  free(s.dec);
  free(s.hid);
  free(s.chain);
  return rc;
}

void merge_free(merge_out *out) {
  for (size_t i = 0; i < out->n; i++) {
    if (out->files) free(out->files[i]);
    if (out->types) free(out->types[i]);
    if (out->listings) listing_free(&out->listings[i]);
  }
  free(out->files);
  free(out->files_len);
  free(out->types);
  free(out->types_len);
  free(out->whiteouts);
  free(out->replaced);
  free(out->listings);
  free(out->dirs);
  free(out->dir_layers);
  memset(out, 0, sizeof *out);
}
