// See receive.h.
#define _GNU_SOURCE
#include "receive.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"

// One read's buffer, reused: the fresh Buffers node:http made cost a page
// fault per 4 KiB.
#define RECEIVE_BUF (1 << 20)
// How often a silent connection looks at the cancel flag.
#define RECEIVE_TICK_MS 100

static int stopped(receive_job *j) { return lc_cancelled(j->cancel) || __atomic_load_n(&j->stop, __ATOMIC_RELAXED); }

static int fail(receive_job *j, int err, const char *syscall) {
  j->err = err;
  j->syscall = syscall;
  return -1;
}

// Waits until the socket is readable: 0, or -1 (cancelled, silent too long, poll failed).
static int wait_readable(receive_job *j) {
  int silent = 0;
  for (;;) {
    if (stopped(j)) return fail(j, ECANCELED, "read");
    struct pollfd p = {.fd = j->sock, .events = POLLIN};
    int n = poll(&p, 1, RECEIVE_TICK_MS);
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return fail(j, errno, "poll");
    if (n == 0 && (silent += RECEIVE_TICK_MS) >= j->idle_ms) return fail(j, ETIMEDOUT, "read");
  }
}

// Writes n bytes at the next place in the file; what is on file stays
// counted (a resume starts after it) and is published to the follower.
static int put(receive_job *j, const char *data, uint64_t n) {
  int rc = 0;
  for (uint64_t done = 0; done < n;) {
    ssize_t w = pwrite(j->out, data + done, (size_t)(n - done), (off_t)(j->position + j->received));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      rc = fail(j, w < 0 ? errno : ENOSPC, "pwrite");
      break;
    }
    done += (uint64_t)w;
    j->received += (uint64_t)w;
  }
  if (j->progress) __atomic_store_n(j->progress, (int64_t)(j->position + j->received), __ATOMIC_RELEASE);
  return rc;
}

// Moves the body from the socket into the file through a pipe: the kernel
// copies each byte once, from the socket's buffers into the page cache,
// where read + pwrite copied it twice through this thread's buffer.
// 1 where the socket cannot be spliced from (nothing moved yet: read it);
// else 0, the outcome in j as put() leaves it.
static int splice_body(receive_job *j) {
  // What was on file before (node:http's head): a socket that refuses
  // splice refuses it before a byte of its own moved.
  uint64_t before = j->received;
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return 1;
  long size = fcntl(p[1], F_SETPIPE_SZ, RECEIVE_BUF);
  size_t chunk = size > 0 ? (size_t)size : 65536;
  int rc = 0;
  while (j->received < j->length) {
    if (stopped(j)) {
      fail(j, ECANCELED, "read");
      break;
    }
    uint64_t want = j->length - j->received;
    ssize_t n = splice(j->sock, NULL, p[1], NULL, want < chunk ? (size_t)want : chunk, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_readable(j) == 0) continue;
      if (errno == EINVAL && j->received == before && !j->err) {
        rc = 1;
        break;
      }
      if (!j->err) fail(j, errno, "read");
      break;
    }
    if (n == 0) break;
    j->spliced = 1;
    for (size_t left = (size_t)n; left > 0;) {
      loff_t at = (loff_t)(j->position + j->received);
      ssize_t w = splice(p[0], NULL, j->out, &at, left, SPLICE_F_MOVE);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        fail(j, w < 0 ? errno : ENOSPC, "pwrite");
        goto done;
      }
      left -= (size_t)w;
      j->received += (uint64_t)w;
    }
    if (j->progress) __atomic_store_n(j->progress, (int64_t)(j->position + j->received), __ATOMIC_RELEASE);
  }
done:
  // What is on file is published however the loop ended (a failed write too).
  if (j->progress) __atomic_store_n(j->progress, (int64_t)(j->position + j->received), __ATOMIC_RELEASE);
  close(p[0]);
  close(p[1]);
  return rc;
}

void receive_run(receive_job *j) {
  if (j->head_len > 0 && put(j, j->head, j->head_len < j->length ? j->head_len : j->length) != 0) return;
  if (j->splice && splice_body(j) == 0) return;
  char *buf = malloc(RECEIVE_BUF);
  if (!buf) {
    fail(j, ENOMEM, "malloc");
    return;
  }
  while (j->received < j->length) {
    if (stopped(j)) {
      fail(j, ECANCELED, "read");
      break;
    }
    uint64_t want = j->length - j->received;
    ssize_t n = read(j->sock, buf, want < RECEIVE_BUF ? (size_t)want : RECEIVE_BUF);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_readable(j) == 0) continue;
      if (!j->err) fail(j, errno, "read");
      break;
    }
    // The peer ended the body early: the caller tells it apart by the count.
    if (n == 0 || put(j, buf, (uint64_t)n) != 0) break;
  }
  free(buf);
}
