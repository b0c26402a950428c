// Ordered work queues, each run by a thread of its own: what one lane is
// given runs in the order given, lanes run at once. The tar reader hands
// the entries of one directory to one lane (native/tar.c, "Lanes"): on
// tmpfs, two threads making files in two directories made 1M empty files
// 1.75x as fast as one (two `tar -xf` of halves of a layer at once against
// one after the other), while in one directory they would take turns on
// its lock.
#ifndef LAYERCOPY_LANES_H
#define LAYERCOPY_LANES_H
#include <stddef.h>
#include <stdint.h>

typedef struct lanes lanes;

// Runs one task on lane `lane`: 0, or -1 for a failure the caller keeps
// (the lane then halts: what it holds after that is released, not run).
typedef int (*lane_run_fn)(void *ctx, int lane, void *task);
// Every task pushed is released once, run or not, on a lane's thread or in lanes_close.
typedef void (*lane_release_fn)(void *ctx, void *task);

// n lanes of `depth` tasks each (pushing to a full lane waits). NULL when
// a thread could not start (errno set).
lanes *lanes_open(int n, size_t depth, lane_run_fn run, lane_release_fn release, void *ctx);
// Queues task on lane; its sequence number on that lane (from 1). Waits
// while the lane is full.
uint64_t lanes_push(lanes *l, int lane, void *task);
// Waits until lane has run (or dropped, after a failure) every task up to
// seq; lane < 0: every lane, everything pushed.
void lanes_wait(lanes *l, int lane, uint64_t seq);
// Whether a lane has failed (a task's run returned -1): its index, or -1.
int lanes_failed(lanes *l);
// The number of tasks queued and not yet run on lane.
size_t lanes_pending(lanes *l, int lane);
// Drops what is queued, waits for the running tasks and the threads to end,
// and frees l (NULL is fine). Nothing runs after it returns.
void lanes_close(lanes *l);

#endif
