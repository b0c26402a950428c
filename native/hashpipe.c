#include "hashpipe.h"

#include "sha256.h"
#include "tarpipe.h"

#include <errno.h>
#include <stdlib.h>

struct hash_pipe {
  sha256_ctx *sha;
  tar_pipe *pipe;
  int done;
};

static int feed_now(void *ctx, const uint8_t *buf, size_t len, const int32_t *cancel, failure *f) {
  (void)cancel;
  (void)f;
  sha256_update(((hash_pipe *)ctx)->sha, buf, len);
  return 0;
}

hash_pipe *hash_pipe_open(void) {
  hash_pipe *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  if (!(h->sha = sha256_new())) {
    free(h);
    return NULL;
  }
  h->pipe = tar_pipe_start(feed_now, h, 0);
  return h;
}

int hash_pipe_feed(hash_pipe *h, const uint8_t *buf, size_t len, failure *f) {
  if (h->done) {
    fail_errno(f, EINVAL, "sha256", SIDE_LAYER, NULL);
    return -1;
  }
  if (len == 0) return 0;
  if (h->pipe) return tar_pipe_feed(h->pipe, buf, len, NULL, f);
  sha256_update(h->sha, buf, len);
  return 0;
}

uint8_t *hash_pipe_claim(hash_pipe *h, size_t cap, failure *f) {
  if (h->done || !h->pipe) return NULL;
  return tar_pipe_claim(h->pipe, cap, f);
}

void hash_pipe_queue(hash_pipe *h, uint8_t *data, size_t len) { tar_pipe_queue(h->pipe, data, len, NULL); }

int hash_pipe_digest(hash_pipe *h, char out[72], failure *f) {
  if (h->done) {
    fail_errno(f, EINVAL, "sha256", SIDE_LAYER, NULL);
    return -1;
  }
  h->done = 1;
  int rc = h->pipe ? tar_pipe_drain(h->pipe, f) : 0;
  tar_pipe_stop(h->pipe);
  h->pipe = NULL;
  if (rc != 0) return -1;
  if (sha256_final(h->sha, out) != 0) {
    fail_errno(f, EINVAL, "sha256", SIDE_LAYER, NULL);
    return -1;
  }
  return 0;
}

void hash_pipe_close(hash_pipe *h) {
  if (!h) return;
  tar_pipe_stop(h->pipe);
  sha256_free(h->sha);
  free(h);
}
