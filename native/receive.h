// A blob's body received from a plain-HTTP connection straight into its
// spool file, on a thread of its own (src/registry/transport.ts hands over
// the socket once the response's headers are read): node:http parsed and
// copied every 64 KiB of it into a fresh Buffer, and the spool's writes
// went through libuv's threads, ~0.9 CPU-s more than a local provision of
// a 297 MB image on two cores that the extraction already kept busy.
#ifndef LAYERCOPY_RECEIVE_H
#define LAYERCOPY_RECEIVE_H
#include <stdint.h>

typedef struct {
  // In: the socket (its own dup, non-blocking) and the file (its own
  // dup), where in the file the bytes go and how many to receive; the
  // cancel flag; the follower's progress (src/images/follow.ts: [0] the
  // bytes on file, stored as each write ends); the longest silence.
  int sock;
  int out;
  // The body's first bytes, read already (node:http's): written first.
  char *head;
  uint64_t head_len;
  uint64_t position;
  uint64_t length;
  const int32_t *cancel;
  int64_t *progress;
  int idle_ms;
  // Whether to move the body through a pipe with splice (else read + pwrite).
  int splice;
  // Set by another thread (the environment ending): stop as cancelled.
  int stop;
  // Out: the bytes received and written; err 0 (all of them, or the peer
  // ended the body early: received < length) or the errno of what failed,
  // with its call ("read", "pwrite", "poll"; ETIMEDOUT: silent past
  // idle_ms; ECANCELED: the flag).
  uint64_t received;
  int err;
  const char *syscall;
  // Whether splice moved any of the body (a socket that refuses it is read).
  int spliced;
} receive_job;

void receive_run(receive_job *j);

#endif
