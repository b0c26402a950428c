#define _GNU_SOURCE
#include "lanes.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

// A sleeping lane is woken once this many tasks wait (or by a wait for
// them): woken for each task, a lane faster than its pusher slept and woke
// once per file, and the futex calls were ~15% of the CPU.
#define KICK 64

typedef struct {
  pthread_t thread;
  pthread_cond_t work;  // tasks to run, or stop
  int started, sleeping;
  void **ring;
  size_t head, count;  // ring[head] runs next
  uint64_t pushed, done;
  int failed;
  // The lane's index and owner, for its thread.
  int index;
  struct lanes *owner;
} lane;

struct lanes {
  pthread_mutex_t lock;
  pthread_cond_t room;  // tasks ran: room in a ring, and `done` moved
  int n, stop, failed;
  size_t depth;
  lane_run_fn run;
  lane_release_fn release;
  void *ctx;
  lane *lane;
};

// Takes what the ring holds at once and runs it without the lock: the
// pusher only writes slots past `count`, which moves when the batch is done
// (one lock and wake-up per batch, not per file).
static void *lane_main(void *arg) {
  lane *ln = arg;
  lanes *l = ln->owner;
  pthread_mutex_lock(&l->lock);
  for (;;) {
    while (!l->stop && ln->count == 0) {
      ln->sleeping = 1;
      pthread_cond_wait(&ln->work, &l->lock);
      ln->sleeping = 0;
    }
    if (l->stop) break;
    size_t k = ln->count, head = ln->head;
    int failed = ln->failed;
    pthread_mutex_unlock(&l->lock);
    for (size_t j = 0; j < k; j++) {
      void *task = ln->ring[(head + j) % l->depth];
      // A close stops a batch half-way: nothing runs after it returns.
      if (!failed && !__atomic_load_n(&l->stop, __ATOMIC_RELAXED) && l->run(l->ctx, ln->index, task) != 0) failed = 1;
      l->release(l->ctx, task);
    }
    pthread_mutex_lock(&l->lock);
    if (failed && !ln->failed) {
      ln->failed = 1;
      if (l->failed < 0) __atomic_store_n(&l->failed, ln->index, __ATOMIC_RELEASE);
    }
    ln->head = (head + k) % l->depth;
    ln->count -= k;
    ln->done += k;
    pthread_cond_broadcast(&l->room);
  }
  pthread_mutex_unlock(&l->lock);
  return NULL;
}

lanes *lanes_open(int n, size_t depth, lane_run_fn run, lane_release_fn release, void *ctx) {
  lanes *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->lane = calloc((size_t)n, sizeof *l->lane);
  if (!l->lane) {
    free(l);
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_init(&l->lock, NULL);
  pthread_cond_init(&l->room, NULL);
  l->n = n;
  l->depth = depth;
  l->run = run;
  l->release = release;
  l->ctx = ctx;
  l->failed = -1;
  for (int i = 0; i < n; i++) {
    lane *ln = &l->lane[i];
    ln->index = i;
    ln->owner = l;
    pthread_cond_init(&ln->work, NULL);
    ln->ring = calloc(depth, sizeof *ln->ring);
  }
  for (int i = 0; i < n; i++) {
    lane *ln = &l->lane[i];
    if (!ln->ring) {
      lanes_close(l);
      errno = ENOMEM;
      return NULL;
    }
    int err = pthread_create(&ln->thread, NULL, lane_main, ln);
    if (err != 0) {
      lanes_close(l);
      errno = err;
      return NULL;
    }
    ln->started = 1;
    pthread_setname_np(ln->thread, "layercopy-lane");
  }
  return l;
}

uint64_t lanes_push(lanes *l, int i, void *task) {
  lane *ln = &l->lane[i];
  pthread_mutex_lock(&l->lock);
  while (ln->count == l->depth) {
    pthread_cond_signal(&ln->work);
    pthread_cond_wait(&l->room, &l->lock);
  }
  ln->ring[(ln->head + ln->count) % l->depth] = task;
  if (++ln->count >= KICK && ln->sleeping) pthread_cond_signal(&ln->work);
  uint64_t seq = ++ln->pushed;
  pthread_mutex_unlock(&l->lock);
  return seq;
}

void lanes_wait(lanes *l, int i, uint64_t seq) {
  pthread_mutex_lock(&l->lock);
  for (int k = i < 0 ? 0 : i; k < (i < 0 ? l->n : i + 1); k++) {
    lane *ln = &l->lane[k];
    uint64_t until = i < 0 ? ln->pushed : seq;
    while (ln->done < until) {
      if (ln->sleeping) pthread_cond_signal(&ln->work);
      pthread_cond_wait(&l->room, &l->lock);
    }
  }
  pthread_mutex_unlock(&l->lock);
}

// Read for every entry: no lock (the failure itself is read once the lanes are closed).
int lanes_failed(lanes *l) { return __atomic_load_n(&l->failed, __ATOMIC_ACQUIRE); }

size_t lanes_pending(lanes *l, int i) {
  pthread_mutex_lock(&l->lock);
  size_t n = l->lane[i].count;
  pthread_mutex_unlock(&l->lock);
  return n;
}

void lanes_close(lanes *l) {
  if (!l) return;
  pthread_mutex_lock(&l->lock);
  __atomic_store_n(&l->stop, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < l->n; i++) pthread_cond_signal(&l->lane[i].work);
  pthread_mutex_unlock(&l->lock);
  for (int i = 0; i < l->n; i++) {
    lane *ln = &l->lane[i];
    if (ln->started) pthread_join(ln->thread, NULL);
    for (size_t k = 0; ln->ring && k < ln->count; k++) l->release(l->ctx, ln->ring[(ln->head + k) % l->depth]);
    free(ln->ring);
    pthread_cond_destroy(&ln->work);
  }
  pthread_cond_destroy(&l->room);
  pthread_mutex_destroy(&l->lock);
  free(l->lane);
  free(l);
}
