#include "pump.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isal.h"

// Reads and inflated chunks of 1 MiB, as the JavaScript path's (a
// decompression bomb never makes more at once than one chunk).
#define PUMP_IN (1u << 20)
#define PUMP_OUT (1u << 20)
// How long a reader that caught up with a download waits before looking
// again (src/images/follow.ts, POLL_MS).
#define FOLLOW_WAIT_NS 2000000
// A member header longer than this is not read here (gzipHeaderLength).
#define HEADER_MAX (1u << 16)

// The length of the gzip member header at the start of buf (RFC 1952), as
// src/images/decompress.ts's gzipHeaderLength: 0 while more bytes are
// needed, -1 for a header this does not read (not deflate, reserved flags,
// past 64 KiB).
static long header_length(const uint8_t *buf, size_t len) {
  if (len < 10) return 0;
  if (buf[0] != 0x1f || buf[1] != 0x8b || buf[2] != 8 || (buf[3] & 0xe0) != 0) return -1;
  unsigned flags = buf[3];
  size_t at = 10;
  if (flags & 4) {
    if (len < at + 2) return 0;
    at += 2 + (size_t)(buf[at] | buf[at + 1] << 8);
  }
  for (unsigned bit = 8; bit <= 16; bit *= 2) {
    if (!(flags & bit)) continue;
    if (at >= len) return len > HEADER_MAX ? -1 : 0;
    const uint8_t *end = memchr(buf + at, 0, len - at);
    if (!end) return len > HEADER_MAX ? -1 : 0;
    at = (size_t)(end - buf) + 1;
  }
  if (flags & 2) at += 2;
  if (at > HEADER_MAX) return -1;
  return len < at ? 0 : (long)at;
}

// Whether the blob has no byte after those read. A member header cut short
// by the blob's end is gunzipRaw's "unexpected end of file" (an Error with
// no code), not a header to read again through zlib (whose error has one).
static int blob_ended(const pump_job *j) {
  if (j->length >= 0 && j->read >= (uint64_t)j->length) return 1;
  uint8_t byte;
  ssize_t n;
  do n = pread(j->fd, &byte, 1, (off_t)(j->start + j->read));
  while (n < 0 && errno == EINTR);
  return n == 0;
}

static int say(pump_job *j, int status, const char *message) {
  j->status = status;
  snprintf(j->message, sizeof j->message, "%s", message);
  return status;
}

// The chunk of the reader's queue being inflated into: queued once full
// (or at the end), so that a chunk carries a full 1 MiB whatever the reads
// (a download's may be a few KiB).
typedef struct {
  uint8_t *data;
  size_t used;
} out_chunk;

static void queue_out(pump_job *j, out_chunk *o) {
  if (!o->data) return;
  tar_commit(j->tar, o->data, o->used, j->cancel);
  o->data = NULL;
  o->used = 0;
}

// Inflates in[*pos..len) into the reader's queue until the input is used
// (or the deflate data ends); *used, *made: counted. 1 at the end of the
// deflate data (*held: bytes igzip read past it), 0 for more, else a status.
static int inflate_chunk(pump_job *j, isal_stream *s, out_chunk *o, const uint8_t *in, size_t len, size_t *pos, uint64_t *used, uint64_t *made, size_t *held) {
  for (;;) {
    if (!o->data && !(o->data = tar_claim(j->tar, PUMP_OUT, &j->f))) return j->status = PUMP_TAR;
    size_t before = *pos, out_len = 0, room = PUMP_OUT - o->used;
    int done = 0;
    const char *error = isal_feed(s, in, len, pos, o->data + o->used, room, &out_len, &done, held);
    if (error) {
      j->inflater = 1;
      return say(j, PUMP_DATA, error);
    }
    o->used += out_len;
    *used += *pos - before;
    *made += out_len;
    if (o->used == PUMP_OUT) queue_out(j, o);
    if (done) return 1;
    // Full, and the stream not done: more may be waiting inside igzip.
    if (*pos >= len && out_len < room) return 0;
  }
}

int pump_run(pump_job *j) {
  j->status = PUMP_OK;
  j->read = 0;
  j->inflater = 0;
  isal_stream *s = isal_open();
  if (!s) return -1;
  uint8_t *own = malloc(PUMP_IN);
  if (!own) {
    isal_close(s);
    fail_errno(&j->f, ENOMEM, "malloc", SIDE_LAYER, NULL);
    j->status = PUMP_READ;
    return 0;
  }
  long header = 0;
  // Bytes of deflate data used, and made; its length once it ended (-1 before).
  uint64_t used = 0, made = 0;
  int64_t deflate = -1;
  uint8_t tail[8];
  size_t tail_len = 0;
  out_chunk out = {0};
  for (;;) {
    if (lc_cancelled(j->cancel) || __atomic_load_n(&j->stop, __ATOMIC_RELAXED)) {
      j->status = PUMP_CANCELED;
      break;
    }
    size_t want = PUMP_IN;
    if (j->length >= 0) {
      uint64_t left = (uint64_t)j->length - j->read;
      if (left == 0) break;
      if (left < want) want = (size_t)left;
    }
    if (j->follow) {
      // The state before the count: the writer publishes its last count
      // before it says it ended, so a count read after "ended" is final.
      int64_t state = __atomic_load_n(&j->follow[1], __ATOMIC_ACQUIRE);
      int64_t written = __atomic_load_n(&j->follow[0], __ATOMIC_ACQUIRE);
      // The first read holds the whole header where the blob does: the
      // writer is waited for until a header's worth is there, or it ended.
      int64_t first = header == 0 ? (int64_t)(want < HEADER_MAX + 16 ? want : HEADER_MAX + 16) : 1;
      if (written - (int64_t)j->read < first && state == 0) {
        nanosleep(&(struct timespec){.tv_nsec = FOLLOW_WAIT_NS}, NULL);
        continue;
      }
      if (written <= (int64_t)j->read) {
        if (state == 1) break;
        // A failed download: the provision tells the download's own error.
        j->status = PUMP_CANCELED;
        break;
      }
      if ((uint64_t)(written - (int64_t)j->read) < want) want = (size_t)(written - (int64_t)j->read);
    }
    // Read straight into a buffer of the blob hash's queue where it has
    // one: hashed as it is, not copied (a copy of every MiB read was on
    // this thread, the critical path of a one-layer image).
    uint8_t *buf = NULL;
    if (j->hash && !(buf = hash_pipe_claim(j->hash, PUMP_IN, &j->f)) && j->f.syscall) {
      j->status = PUMP_READ;
      break;
    }
    const uint8_t *in = buf ? buf : own;
    ssize_t n = pread(j->fd, (uint8_t *)in, want, (off_t)(j->start + j->read));
    int err = errno;
    if (n <= 0 && buf) hash_pipe_queue(j->hash, buf, 0);
    if (n < 0 && err == EINTR) continue;
    if (n < 0) {
      fail_errno(&j->f, err, "read", SIDE_LAYER, NULL);
      j->status = PUMP_READ;
      break;
    }
    if (n == 0) break;
    j->read += (uint64_t)n;
    // Queued at once: the hash's thread reads it while this one inflates it.
    if (buf)
      hash_pipe_queue(j->hash, buf, (size_t)n);
    else if (j->hash && hash_pipe_feed(j->hash, in, (size_t)n, &j->f) != 0) {
      j->status = PUMP_READ;
      break;
    }
    if (j->progress) __atomic_store_n(j->progress, (int64_t)j->read, __ATOMIC_RELAXED);
    if ((size_t)n >= 8) {
      memcpy(tail, in + n - 8, 8);
      tail_len = 8;
    } else {
      size_t keep = tail_len + (size_t)n > 8 ? 8 - (size_t)n : tail_len;
      memmove(tail, tail + tail_len - keep, keep);
      memcpy(tail + keep, in, (size_t)n);
      tail_len = keep + (size_t)n;
    }
    size_t pos = 0;
    if (header == 0) {
      // The first read holds the whole header (a blob that ends inside it
      // fails as gunzipRaw fails it), or it is not one this reads here:
      // zlib's gunzip says.
      header = header_length(in, (size_t)n);
      if (header == 0 && blob_ended(j)) {
        say(j, PUMP_DATA, "unexpected end of file");
        break;
      }
      if (header <= 0) {
        say(j, PUMP_FALLBACK, "a gzip header this reader does not read");
        break;
      }
      pos = (size_t)header;
    }
    // After the deflate data: read, hashed and counted, not inflated.
    if (deflate >= 0) continue;
    size_t held = 0;
    int r = inflate_chunk(j, s, &out, in, (size_t)n, &pos, &used, &made, &held);
    if (r == 1)
      deflate = (int64_t)(used - held);
    else if (r != 0)
      break;
  }
  // What was inflated goes to the reader, after a failure too: a failure
  // of the bytes before it is the one told (tar_settle), as in JavaScript.
  if (j->status != PUMP_TAR) queue_out(j, &out);
  if (j->status == PUMP_OK) {
    uint64_t rest = deflate < 0 ? 0 : j->read - (uint64_t)header - (uint64_t)deflate;
    uint32_t size = tail_len == 8 ? (uint32_t)tail[4] | (uint32_t)tail[5] << 8 | (uint32_t)tail[6] << 16 | (uint32_t)tail[7] << 24 : 0;
    if (deflate < 0 || rest < 8)
      say(j, PUMP_DATA, "unexpected end of file");
    else if (rest > 8)
      say(j, PUMP_FALLBACK, "more after the first gzip member");
    else if (size != (uint32_t)made)
      say(j, PUMP_DATA, "incorrect length check");
  }
  free(own);
  isal_close(s);
  return 0;
}
