// A tar reader fed on a thread of its own: the caller's thread inflates and
// hashes the next chunk while this one parses and writes the last. Chunks
// are copied in (the caller reuses its buffers) and wait in a bounded queue.
#ifndef LAYERCOPY_TARPIPE_H
#define LAYERCOPY_TARPIPE_H
#include "common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tar_pipe tar_pipe;

// Bytes a pipe holds at most unless told more: a few of the inflater's
// chunks, so that neither thread waits on the other's next one while memory
// stays small.
#define PIPE_BYTES (2u << 20)

// Feeds chunks to feed(ctx, ...) on a new thread, at most `bytes` waiting
// (0: PIPE_BYTES). NULL: no thread or no memory (the caller feeds on its own
// thread).
tar_pipe *tar_pipe_start(int (*feed)(void *ctx, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f), void *ctx, size_t bytes);
// Queues a copy of buf (waits while the queue is full). -1 with *f: the
// failure of an earlier chunk (or no memory for the copy); the caller then
// stops the pipe, and the feed answers later calls itself.
int tar_pipe_feed(tar_pipe *p, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f);
// The data of a chunk of `cap` bytes for the caller to fill (an inflater
// writing straight into the queue rather than into a buffer of its own
// copied in), waiting for room as tar_pipe_feed does; then tar_pipe_queue
// it. NULL with *f as tar_pipe_feed fails.
uint8_t *tar_pipe_claim(tar_pipe *p, size_t cap, failure *f);
// Queues a claimed chunk holding `len` bytes (0: given back unused).
void tar_pipe_queue(tar_pipe *p, uint8_t *data, size_t len, const int32_t *cancel);
// Waits until every queued chunk is fed and ends the thread. -1 with *f:
// the failure of a chunk.
int tar_pipe_drain(tar_pipe *p, failure *f);
// Drops what waits, ends the thread (after the chunk it is feeding) and
// frees p (NULL is fine).
void tar_pipe_stop(tar_pipe *p);

#endif
