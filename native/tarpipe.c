#include "tarpipe.h"

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct chunk {
  struct chunk *next;
  // charged: what the chunk counts against the pipe's bytes (its length
  // where copied in; its capacity where claimed, so that claimed chunks
  // holding little cannot pile up past the bound).
  size_t len, cap, charged;
  const int32_t *cancel;
  uint8_t data[];
} chunk;

struct tar_pipe {
  int (*feed)(void *ctx, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f);
  void *ctx;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t more, room;
  chunk *head, *tail;
  // Chunks fed, kept for the next copies: malloc'ing each 1 MiB chunk
  // afresh would map and fault in new pages every time.
  chunk *spare;
  size_t queued, bytes;
  int ending;  // no more chunks come (drain, stop)
  int failed;  // a chunk failed: fail holds why until told
  failure fail;
};

static void *run(void *arg) {
  tar_pipe *p = arg;
  pthread_mutex_lock(&p->lock);
  for (;;) {
    while (!p->head && !p->ending) pthread_cond_wait(&p->more, &p->lock);
    chunk *c = p->head;
    if (!c) break;
    p->head = c->next;
    if (!p->head) p->tail = NULL;
    int failed = p->failed;
    pthread_mutex_unlock(&p->lock);
    failure f = {0};
    int rc = failed ? 0 : p->feed(p->ctx, c->data, c->len, c->cancel, &f);
    // The caller reads the failure after this thread moved on: a name it
    // points at may be the reader's, and change.
    if (rc != 0 && f.rel && f.rel != f.owned) {
      f.owned = strdup(f.rel);
      f.rel = f.owned;
    }
    pthread_mutex_lock(&p->lock);
    if (rc != 0) {
      p->failed = 1;
      p->fail = f;
    }
    p->queued -= c->charged;
    c->next = p->spare;
    p->spare = c;
    pthread_cond_signal(&p->room);
  }
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

tar_pipe *tar_pipe_start(int (*feed)(void *ctx, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f), void *ctx, size_t bytes) {
  tar_pipe *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->bytes = bytes ? bytes : PIPE_BYTES;
  p->feed = feed;
  p->ctx = ctx;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->more, NULL);
  pthread_cond_init(&p->room, NULL);
  if (pthread_create(&p->thread, NULL, run, p) != 0) {
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->more);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return NULL;
  }
  pthread_setname_np(p->thread, "layercopy-pipe");
  return p;
}

// The failure of an earlier chunk, handed over (the caller stops the pipe
// then: it is told once). Under the lock, or after the thread ended.
static int told(tar_pipe *p, failure *f) {
  failure_clear(f);
  *f = p->fail;
  p->fail = (failure){0};
  return -1;
}

// Waits until `room` more bytes fit in the queue; -1 with *f: the failure
// of an earlier chunk. Else 0, with *out a chunk of at least `need` bytes
// (a spare one where it is big enough, else a new one of `alloc`), or none
// where need is 0.
static int take(tar_pipe *p, size_t room, size_t need, size_t alloc, chunk **out, failure *f) {
  *out = NULL;
  pthread_mutex_lock(&p->lock);
  while (!p->failed && p->queued > 0 && p->queued + room > p->bytes) pthread_cond_wait(&p->room, &p->lock);
  if (p->failed) {
    int rc = told(p, f);
    pthread_mutex_unlock(&p->lock);
    return rc;
  }
  if (need == 0) {
    pthread_mutex_unlock(&p->lock);
    return 0;
  }
  chunk *c = p->spare;
  if (c) p->spare = c->next;
  pthread_mutex_unlock(&p->lock);
  if (!c || c->cap < need) {
    free(c);
    if (!(c = malloc(sizeof *c + alloc))) {
      fail_errno(f, ENOMEM, "malloc", SIDE_ROOTFS, NULL);
      return -1;
    }
    c->cap = alloc;
  }
  *out = c;
  return 0;
}

// Queues c holding `len` bytes, counted as `charged` against the pipe's
// bytes; len 0: c goes back to the spares.
static void put(tar_pipe *p, chunk *c, size_t len, size_t charged, const int32_t *cancel) {
  c->len = len;
  c->charged = charged;
  c->cancel = cancel;
  c->next = NULL;
  pthread_mutex_lock(&p->lock);
  if (len == 0) {
    c->next = p->spare;
    p->spare = c;
  } else {
    if (p->tail)
      p->tail->next = c;
    else
      p->head = c;
    p->tail = c;
    p->queued += charged;
    pthread_cond_signal(&p->more);
  }
  pthread_mutex_unlock(&p->lock);
}

int tar_pipe_feed(tar_pipe *p, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f) {
  // The next power of two from 4 KiB up to 1 MiB (the inflater's 1 MiB
  // chunks take 1 MiB, and a spare fits the next), else len: never 1 MiB
  // for a small chunk, as a queue of 2 MiB in 512-byte chunks then held
  // 4 GiB (4096 x 1 MiB).
  size_t cap = 4096;
  while (cap < len && cap < (1u << 20)) cap *= 2;
  if (cap < len) cap = len;
  chunk *c;
  if (take(p, len, len, cap, &c, f) != 0) return -1;
  // Nothing to hand over (an empty Buffer's data may be NULL: no memcpy from it).
  if (len == 0) return 0;
  memcpy(c->data, buf, len);
  put(p, c, len, len, cancel);
  return 0;
}

uint8_t *tar_pipe_claim(tar_pipe *p, size_t cap, failure *f) {
  chunk *c;
  return take(p, cap, cap, cap, &c, f) == 0 ? c->data : NULL;
}

void tar_pipe_queue(tar_pipe *p, uint8_t *data, size_t len, const int32_t *cancel) {
  chunk *c = (chunk *)(data - offsetof(chunk, data));
  put(p, c, len, c->cap, cancel);
}

static void end_thread(tar_pipe *p, int drop) {
  pthread_mutex_lock(&p->lock);
  p->ending = 1;
  if (drop) {
    for (chunk *c = p->head, *next; c; c = next) {
      next = c->next;
      free(c);
    }
    p->head = p->tail = NULL;
    p->queued = 0;
  }
  pthread_cond_signal(&p->more);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->thread, NULL);
}

int tar_pipe_drain(tar_pipe *p, failure *f) {
  if (!p->ending) end_thread(p, 0);
  return p->failed ? told(p, f) : 0;
}

void tar_pipe_stop(tar_pipe *p) {
  if (!p) return;
  if (!p->ending) end_thread(p, 1);
  for (chunk *c = p->spare, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  failure_clear(&p->fail);
  pthread_cond_destroy(&p->room);
  pthread_cond_destroy(&p->more);
  pthread_mutex_destroy(&p->lock);
  free(p);
}
