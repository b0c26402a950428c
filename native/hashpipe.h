// A blob's sha256 on a thread of its own (native/tarpipe.h, fed
// sha256_update): the thread that reads and inflates a layer hands each
// chunk over and goes on. Hashing a 95 MB blob took ~85 ms of that
// thread's ~310, the critical path of a one-layer image.
#ifndef LAYERCOPY_HASHPIPE_H
#define LAYERCOPY_HASHPIPE_H
#include "common.h"

#include <stddef.h>
#include <stdint.h>

typedef struct hash_pipe hash_pipe;

// A new hash, or NULL (sha256_available() is false, or no memory). Where
// no thread starts it hashes on the caller's.
hash_pipe *hash_pipe_open(void);
// Hashes a copy of buf (later, on the thread). -1 with *f: no memory.
int hash_pipe_feed(hash_pipe *h, const uint8_t *buf, size_t len, failure *f);
// A buffer of `cap` bytes for the caller to read the next bytes into, to
// be hashed without a copy once given back with hash_pipe_queue (len: the
// bytes read, 0 for none). After queueing, the caller may still read the
// buffer until its next claim: only claims reuse it. NULL (f untouched)
// where the hash has no thread, or with *f after a failure (no memory).
uint8_t *hash_pipe_claim(hash_pipe *h, size_t cap, failure *f);
void hash_pipe_queue(hash_pipe *h, uint8_t *data, size_t len);
// Waits for what is queued, ends the thread and writes "sha256:<hex>"
// into out. -1 with *f. Later feeds fail.
int hash_pipe_digest(hash_pipe *h, char out[72], failure *f);
// Frees h (NULL is fine), the thread ended first.
void hash_pipe_close(hash_pipe *h);

#endif
