#include "claims.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *rel;
  int entry, whiteout, opaque;  // highest layer, or -1
} claim;

struct claims {
  pthread_mutex_t lock;
  claim *slots;
  size_t n, used, cap;
  int refs;
  int closed;
};

#define MAX_SETS 64

// Names a set holds at most: 512k of ~90 bytes (a slot at half load and the
// name), ~45 MB. Every name of every tar layer but the lowest went in: two
// layers of 700k names peaked at 200 MB against 110 MB for one, and a layer
// of tens of millions of names would exhaust memory. A claim left out only
// costs the data of a hidden file written; a "hidden" answer still never
// turns wrong (the set only grows). LAYERCOPY_CLAIMS sets it (tests).
#define CLAIMS_CAP (512 * 1024)
static claims *sets[MAX_SETS];
static pthread_mutex_t sets_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t hash(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
  return h;
}

// The claim of rel[0..len), or NULL; with make, made when missing (NULL: no memory).
static claim *lookup(claims *c, const char *rel, size_t len, int make) {
  if (make && c->used >= c->cap) make = 0;
  if (make && (c->used + 1) * 2 > c->n) {
    size_t n = c->n ? c->n * 2 : 4096;
    claim *fresh = calloc(n, sizeof *fresh);
    if (!fresh) return NULL;
    for (size_t i = 0; i < c->n; i++) {
      if (!c->slots[i].rel) continue;
      size_t j = hash(c->slots[i].rel, strlen(c->slots[i].rel)) & (n - 1);
      while (fresh[j].rel) j = (j + 1) & (n - 1);
      fresh[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = fresh;
    c->n = n;
  }
  if (c->n == 0) return NULL;
  size_t mask = c->n - 1;
  for (size_t i = hash(rel, len) & mask;; i = (i + 1) & mask) {
    claim *s = &c->slots[i];
    if (!s->rel) {
      if (!make || !(s->rel = strndup(rel, len))) return NULL;
      s->entry = s->whiteout = s->opaque = -1;
      c->used++;
      return s;
    }
    if (strlen(s->rel) == len && memcmp(s->rel, rel, len) == 0) return s;
  }
}

int claims_open(void) {
  claims *c = calloc(1, sizeof *c);
  if (!c) return -1;
  pthread_mutex_init(&c->lock, NULL);
  c->refs = 1;
  const char *cap = getenv("LAYERCOPY_CLAIMS");
  c->cap = cap && atol(cap) > 0 ? (size_t)atol(cap) : CLAIMS_CAP;
  pthread_mutex_lock(&sets_lock);
  int id = -1;
  for (int i = 0; i < MAX_SETS && id < 0; i++) {
    if (!sets[i]) {
      sets[i] = c;
      id = i + 1;
    }
  }
  pthread_mutex_unlock(&sets_lock);
  if (id < 0) {
    pthread_mutex_destroy(&c->lock);
    free(c);
  }
  return id;
}

claims *claims_get(int id) {
  claims *c = NULL;
  pthread_mutex_lock(&sets_lock);
  if (id >= 1 && id <= MAX_SETS && sets[id - 1] && !sets[id - 1]->closed) {
    c = sets[id - 1];
    c->refs++;
  }
  pthread_mutex_unlock(&sets_lock);
  return c;
}

static void release(claims *c) {
  // Under sets_lock.
  if (--c->refs > 0) return;
  for (size_t i = 0; i < c->n; i++) free(c->slots[i].rel);
  free(c->slots);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

void claims_put(claims *c) {
  if (!c) return;
  pthread_mutex_lock(&sets_lock);
  release(c);
  pthread_mutex_unlock(&sets_lock);
}

void claims_close(int id) {
  pthread_mutex_lock(&sets_lock);
  if (id >= 1 && id <= MAX_SETS && sets[id - 1]) {
    claims *c = sets[id - 1];
    sets[id - 1] = NULL;
    c->closed = 1;
    release(c);
  }
  pthread_mutex_unlock(&sets_lock);
}

static int record(claims *c, const char *rel, int layer, int which) {
  pthread_mutex_lock(&c->lock);
  claim *s = lookup(c, rel, strlen(rel), 1);
  int full = !s && c->used >= c->cap;
  if (s) {
    int *field = which == 0 ? &s->entry : which == 1 ? &s->whiteout : &s->opaque;
    if (layer > *field) *field = layer;
  }
  pthread_mutex_unlock(&c->lock);
  return s || full ? 0 : -1;
}

int claims_entry(claims *c, const char *rel, int layer) { return record(c, rel, layer, 0); }
int claims_whiteout(claims *c, const char *rel, int layer) { return record(c, rel, layer, 1); }
int claims_opaque(claims *c, const char *rel, int layer) { return record(c, rel, layer, 2); }

int claims_hidden(claims *c, const char *rel, int layer) {
  size_t len = strlen(rel);
  int hidden = 0;
  pthread_mutex_lock(&c->lock);
  claim *s = lookup(c, rel, len, 0);
  if (s && (s->entry > layer || s->whiteout > layer)) hidden = 1;
  // Each directory above rel, the root ("") included: a whiteout of it, or an opaque marker in it.
  for (size_t cut = len; !hidden && cut > 0;) {
    while (cut > 0 && rel[cut - 1] != '/') cut--;
    size_t dir = cut > 0 ? cut - 1 : 0;
    claim *d = lookup(c, rel, dir, 0);
    if (d && (d->opaque > layer || (dir > 0 && d->whiteout > layer))) hidden = 1;
    cut = dir;
  }
  pthread_mutex_unlock(&c->lock);
  return hidden;
}
