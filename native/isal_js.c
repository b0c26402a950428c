// The JS face of native/isal.c: isalOpen, and isalFeed on the calling thread
// or on libuv's pool (src/images/decompress.ts picks).
#include "isal_js.h"

#include <errno.h>
#include <stdlib.h>

#include "isal.h"
#include "napi_util.h"

// Each call makes at most this much: a decompression bomb never makes more
// at once than the consumer takes in one step.
#define ISAL_OUT (1 << 20)

typedef struct {
  isal_stream *s;
  int busy;  // a feed runs on the pool: the stream is not to be touched
} handle;

static void handle_finalize(napi_env env, void *data, void *hint) {
  handle *h = data;
  isal_close(h->s);
  free(h);
}

// isalOpen() -> handle | null (libisal.so.2 missing, or it failed the self-check)
napi_value isal_open_js(napi_env env, napi_callback_info info) {
  napi_value result = NULL;
  isal_stream *s = isal_open();
  handle *h = s ? calloc(1, sizeof *h) : NULL;
  if (!s || !h) {
    isal_close(s);
    if (s || errno == ENOMEM) return throw_errno(env, ENOMEM, "isalOpen", NULL);
    NAPI_OK(napi_get_null(env, &result));
    return result;
  }
  h->s = s;
  if (!NAPI_OK(napi_create_external(env, h, handle_finalize, NULL, &result))) {
    handle_finalize(env, h, NULL);
    return NULL;
  }
  return result;
}

typedef struct {
  handle *h;
  void *in, *out;
  size_t in_len, pos, out_cap, out_len, held;
  int done;
  const char *error;
  napi_value data;  // sync only
} feed;

// The arguments (handle, chunk, pos, out?) and the output buffer: `out` where
// given (the caller's to reuse once it has read what came back: a new 1 MiB
// buffer a step was fresh memory, faulted in and zeroed by the kernel on the
// inflating thread), else a new one; 0 after throwing.
static int feed_args(napi_env env, napi_callback_info info, napi_value *argv, feed *f) {
  void *h = NULL;
  double pos = 0;
  bool given = false;
  if (!get_args(env, info, 4, argv) || !NAPI_OK(napi_get_value_external(env, argv[0], &h)) ||
      !NAPI_OK(napi_get_buffer_info(env, argv[1], &f->in, &f->in_len)) || !NAPI_OK(napi_get_value_double(env, argv[2], &pos)))
    return 0;
  f->h = h;
  if (f->h->busy) {
    napi_throw_error(env, NULL, "isalFeed: the stream is busy with another call");
    return 0;
  }
  f->pos = pos < 0 ? 0 : pos > (double)f->in_len ? f->in_len : (size_t)pos;
  if (!NAPI_OK(napi_is_buffer(env, argv[3], &given))) return 0;
  if (given) {
    if (!NAPI_OK(napi_get_buffer_info(env, argv[3], &f->out, &f->out_cap))) return 0;
    if (f->out_cap == 0 || f->out == f->in) {
      napi_throw_error(env, NULL, "isalFeed: the output buffer is empty or the input");
      return 0;
    }
    if (f->out_cap > ISAL_OUT) f->out_cap = ISAL_OUT;
    f->data = argv[3];
    return 1;
  }
  f->out_cap = ISAL_OUT;
  // A buffer V8 allocates and counts (as zstdFeed's): GC runs while a bomb's pieces pile up.
  return NAPI_OK(napi_create_buffer(env, ISAL_OUT, &f->out, &f->data));
}

static void feed_run(feed *f) { f->error = isal_feed(f->h->s, f->in, f->in_len, &f->pos, f->out, f->out_cap, &f->out_len, &f->done, &f->held); }

static napi_value feed_result(napi_env env, feed *f, napi_value data) {
  napi_value o = NULL, v = NULL;
  if (!NAPI_OK(napi_create_object(env, &o)) || !NAPI_OK(napi_set_named_property(env, o, "data", data))) return NULL;
  const struct {
    const char *name;
    double value;
  } nums[] = {{"length", (double)f->out_len}, {"pos", (double)f->pos}, {"held", (double)f->held}};
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
    if (!NAPI_OK(napi_create_double(env, nums[i].value, &v)) || !NAPI_OK(napi_set_named_property(env, o, nums[i].name, v))) return NULL;
  if (!NAPI_OK(napi_get_boolean(env, f->done, &v)) || !NAPI_OK(napi_set_named_property(env, o, "done", v))) return NULL;
  return o;
}

// isalFeed(handle, chunk, pos, out?) -> { data, length, pos, done, held }: at
// most ISAL_OUT bytes (and out's length) inflated from chunk[pos..] into out
// or a new buffer, on this thread; throws on corrupt data.
napi_value isal_feed_js(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  feed f = {0};
  if (!feed_args(env, info, argv, &f)) return NULL;
  feed_run(&f);
  if (f.error) {
    napi_throw_error(env, "ERR_ISAL", f.error);
    return NULL;
  }
  return feed_result(env, &f, f.data);
}

typedef struct {
  feed f;
  napi_async_work work;
  napi_deferred deferred;
  // The handle, chunk and output buffer stay alive while the pool uses them.
  napi_ref refs[3];
} feed_job;

static void job_execute(napi_env env, void *data) { feed_run(&((feed_job *)data)->f); }

static void job_free(napi_env env, feed_job *j) {
  for (int i = 0; i < 3; i++)
    if (j->refs[i]) NAPI_OK(napi_delete_reference(env, j->refs[i]));
  if (j->work) NAPI_OK(napi_delete_async_work(env, j->work));
  free(j);
}

static void job_complete(napi_env env, napi_status status, void *data) {
  feed_job *j = data;
  j->f.h->busy = 0;
  napi_value v = NULL, message = NULL, code = NULL, data_v = NULL;
  if (status != napi_ok) j->f.error = "the inflate was cancelled";
  if (j->f.error) {
    if (NAPI_OK(napi_create_string_utf8(env, j->f.error, NAPI_AUTO_LENGTH, &message)) &&
        NAPI_OK(napi_create_string_utf8(env, "ERR_ISAL", NAPI_AUTO_LENGTH, &code)) && NAPI_OK(napi_create_error(env, code, message, &v)))
      NAPI_OK(napi_reject_deferred(env, j->deferred, v));
  } else if (NAPI_OK(napi_get_reference_value(env, j->refs[2], &data_v)) && (v = feed_result(env, &j->f, data_v))) {
    NAPI_OK(napi_resolve_deferred(env, j->deferred, v));
  }
  job_free(env, j);
}

// isalFeedAsync(handle, chunk, pos) -> Promise of what isalFeed returns: the
// inflate runs on libuv's pool, overlapping the caller's own work.
napi_value isal_feed_async_js(napi_env env, napi_callback_info info) {
  napi_value argv[4], promise = NULL, name = NULL;
  feed_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "isalFeedAsync", NULL);
  if (!feed_args(env, info, argv, &j->f)) {
    free(j);
    return NULL;
  }
  napi_value keep[3] = {argv[0], argv[1], j->f.data};
  for (int i = 0; i < 3; i++)
    if (!NAPI_OK(napi_create_reference(env, keep[i], 1, &j->refs[i]))) {
      job_free(env, j);
      return NULL;
    }
  if (!NAPI_OK(napi_create_promise(env, &j->deferred, &promise)) || !NAPI_OK(napi_create_string_utf8(env, "layercopy:isal", NAPI_AUTO_LENGTH, &name)) ||
      !NAPI_OK(napi_create_async_work(env, NULL, name, job_execute, job_complete, j, &j->work)) || !NAPI_OK(napi_queue_async_work(env, j->work))) {
    // A deferred made and never settled is released with its promise.
    job_free(env, j);
    return NULL;
  }
  j->f.h->busy = 1;
  return promise;
}
