// layercopy native helper: N-API glue. The work itself lives in units by
// job: paths.c (open beneath a root), copy.c (the copy step per entry kind),
// xattr.c, list.c (directory listing), remove.c (tree removal).
//
// Node has no API for xattrs, mknod, nanosecond utimensat, SEEK_DATA/HOLE,
// renameat2 or openat2, and calling fs functions one by one from JS costs a
// boundary crossing and a stat per step; doing a whole batch here keeps each
// regular file to fewer syscalls than cp -a makes (docs/benchmarks.md,
// "Syscalls").
//
// Roots are passed as open directory fds (numbers; the main thread opens
// each layer and the staging directory once, and workers share the fd
// table), or as paths for tools and tests. Every path below a root is
// resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS): a symlink in
// the rootfs or in a layer can never redirect a write (CVE-2018-15664,
// CVE-2021-29136, CVE-2021-32760 are all variants of that).
#include "common.h"
#include "sys.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "copy.h"
#include "meta.h"
#include "unlock.h"
#include "list.h"
#include "merge.h"
#include "napi_util.h"
#include "paths.h"
#include "remove.h"
#include "write.h"
#include "claims.h"
#include "hashpipe.h"
#include "sha256.h"
#include "pump.h"
#include "receive.h"
#include "tar.h"
#include "tarscan.h"
#include "zstd.h"
#include "isal_js.h"
#include "whiteout.h"

#include <sys/file.h>
#include <sys/sysmacros.h>

// ---- result objects ------------------------------------------------------

typedef struct {
  napi_env env;
  napi_value obj;
  int ok;
} builder;

static builder b_new(napi_env env) {
  builder b = {env, NULL, 1};
  b.ok = NAPI_OK(napi_create_object(env, &b.obj));
  return b;
}

static void b_val(builder *b, const char *k, napi_value v) {
  napi_env env = b->env;
  if (b->ok && v)
    b->ok = NAPI_OK(napi_set_named_property(env, b->obj, k, v));
  else if (!v)
    b->ok = 0;
}

static void b_num(builder *b, const char *k, double d) {
  napi_env env = b->env;
  napi_value v = NULL;
  if (b->ok && NAPI_OK(napi_create_double(env, d, &v)))
    b_val(b, k, v);
  else
    b->ok = 0;
}

// latin1: names and paths are bytes; NULL strings are left out.
static void b_str(builder *b, const char *k, const char *s) {
  napi_env env = b->env;
  napi_value v = NULL;
  if (!s) return;
  if (b->ok && NAPI_OK(napi_create_string_latin1(env, s, NAPI_AUTO_LENGTH, &v)))
    b_val(b, k, v);
  else
    b->ok = 0;
}

static void b_u64(builder *b, const char *k, uint64_t u) {
  napi_env env = b->env;
  napi_value v = NULL;
  if (b->ok && NAPI_OK(napi_create_bigint_uint64(env, u, &v)))
    b_val(b, k, v);
  else
    b->ok = 0;
}

static void b_bool(builder *b, const char *k, int t) {
  napi_env env = b->env;
  napi_value v = NULL;
  if (b->ok && NAPI_OK(napi_get_boolean(env, t != 0, &v)))
    b_val(b, k, v);
  else
    b->ok = 0;
}

static napi_value b_done(builder *b) { return b->ok ? b->obj : NULL; }

// Appends v to the array arr (length *n); 0 on an N-API failure.
static int push(napi_env env, napi_value arr, uint32_t *n, napi_value v) { return v && NAPI_OK(napi_set_element(env, arr, (*n)++, v)); }

// { errno, code?, syscall, side, rel? }: the one shape every failure takes
// across the thread boundary (src/core/native.cts, NativeFailure).
static napi_value failure_value(napi_env env, const failure *f) {
  builder b = b_new(env);
  b_num(&b, "errno", f->err);
  b_str(&b, "code", f->code);
  b_str(&b, "syscall", f->syscall ? f->syscall : "unknown");
  b_str(&b, "side", f->side == SIDE_ROOTFS ? "rootfs" : "layer");
  b_str(&b, "rel", f->rel);
  b_str(&b, "detail", f->detail);
  if (f->code && (strcmp(f->code, CODE_UNMAPPED_UID) == 0 || strcmp(f->code, CODE_UNMAPPED_GID) == 0)) b_num(&b, "id", (double)f->id);
  if (f->more > 0) b_num(&b, "more", (double)f->more);
  return b_done(&b);
}

// null when rc is 0, else the failure; *f is cleared either way.
static napi_value null_or_failure(napi_env env, int rc, failure *f) {
  napi_value result = NULL;
  if (rc != 0)
    result = failure_value(env, f);
  else
    NAPI_OK(napi_get_null(env, &result));
  failure_clear(f);
  return result;
}

// ---- arguments -------------------------------------------------------------

// A root: an fd number (borrowed) or a path (opened here, owned). -1 after
// a failure (*f set) or a thrown exception.
static int get_root(napi_env env, napi_value v, int *owned, side_t side, failure *f) {
  napi_valuetype t;
  *owned = 0;
  if (!NAPI_OK(napi_typeof(env, v, &t))) return -1;
  if (t == napi_number) {
    int32_t fd = -1;
    if (!NAPI_OK(napi_get_value_int32(env, v, &fd))) return -1;
    return fd;
  }
  char *path = get_utf8(env, v);
  if (!path) return -1;
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  free(path);
  if (fd < 0) {
    fail_errno(f, errno, "open", side, "");
    return -1;
  }
  *owned = 1;
  return fd;
}

// A BigInt64Array's data and length; *data NULL where v is no typed array,
// *len 0 where it is another kind of one (the caller's check refuses it).
// 0 after throwing.
static int get_bigints(napi_env env, napi_value v, int64_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  bool is = false;
  if (!NAPI_OK(napi_is_typedarray(env, v, &is))) return 0;
  if (!is) return 1;
  napi_typedarray_type type;
  void *p = NULL;
  if (!NAPI_OK(napi_get_typedarray_info(env, v, &type, len, &p, NULL, NULL))) return 0;
  // An empty array may have no data: still an array given, of length 0.
  static int64_t none;
  *data = p ? p : &none;
  if (type != napi_bigint64_array) *len = 0;
  return 1;
}

// The abort flag: an Int32Array over a SharedArrayBuffer, or undefined.
static const int32_t *get_cancel(napi_env env, napi_value v) {
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_object) return NULL;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return NULL;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL) != napi_ok || type != napi_int32_array || len < 1) return NULL;
  return data;
}

static int get_u32s(napi_env env, napi_value obj, const char *key, const uint32_t **out, size_t *triples) {
  napi_value v;
  bool has = false;
  *out = NULL;
  *triples = 0;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return 1;
  if (!NAPI_OK(napi_get_named_property(env, obj, key, &v))) return 0;
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 1;
  napi_typedarray_type type;
  size_t len = 0;
  void *data = NULL;
  if (!NAPI_OK(napi_get_typedarray_info(env, v, &type, &len, &data, NULL, NULL))) return 0;
  if (type != napi_uint32_array || len % 3 != 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG", "an ID map is a Uint32Array of (container, host, count) triples");
    return 0;
  }
  *out = data;
  *triples = len / 3;
  return 1;
}

// An ID map: { uid?: Uint32Array, gid?: Uint32Array } of (container, host,
// count) triples, or undefined for none. 0 after throwing.
static int get_idmap(napi_env env, napi_value v, idmap *m) {
  memset(m, 0, sizeof *m);
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_object) return 1;
  return get_u32s(env, v, "uid", &m->uid, &m->nuid) && get_u32s(env, v, "gid", &m->gid, &m->ngid);
}

// A small integer property of obj in [0, max], or 0 where absent.
static int get_choice(napi_env env, napi_value obj, const char *key, uint32_t max, uint32_t *out) {
  bool has = false;
  napi_value v;
  *out = 0;
  if (!NAPI_OK(napi_has_named_property(env, obj, key, &has))) return 0;
  if (!has) return 1;
  if (!NAPI_OK(napi_get_named_property(env, obj, key, &v))) return 0;
  napi_valuetype t;
  if (!NAPI_OK(napi_typeof(env, v, &t))) return 0;
  if (t == napi_undefined) return 1;
  if (t == napi_boolean) {
    int b = 0;
    if (!get_bool(env, v, &b)) return 0;
    *out = (uint32_t)b;
  } else if (!NAPI_OK(napi_get_value_uint32(env, v, out))) {
    return 0;
  }
  if (*out > max) {
    napi_throw_range_error(env, "ERR_INVALID_ARG", "a metadata policy's owners, devices or strict is out of range");
    return 0;
  }
  return 1;
}

// The metadata policy (native/meta.h): { uid?, gid? (the ID map), owners?:
// 0 keep | 1 xattr | 2 drop, devices?: 0 error | 1 empty | 2 skip, strict?:
// boolean }, or undefined (keep, error). 0 after throwing.
static int get_policy(napi_env env, napi_value v, meta_policy *p) {
  memset(p, 0, sizeof *p);
  if (!get_idmap(env, v, &p->map)) return 0;
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_object) return 1;
  uint32_t owners, devices, strict;
  if (!get_choice(env, v, "owners", OWNERS_DROP, &owners) || !get_choice(env, v, "devices", DEVICES_SKIP, &devices) ||
      !get_choice(env, v, "strict", 1, &strict))
    return 0;
  p->owners = (owners_mode)owners;
  p->devices = (devices_mode)devices;
  p->strict = (int)strict;
  return 1;
}

// { ownersRecorded: { count, paths }, ... } for the kinds that changed, as
// the property "changes" of b; nothing when none did.
static void b_changes(builder *b, const meta_changes *c) {
  napi_env env = b->env;
  int any = 0;
  for (int k = 0; k < CH_KINDS; k++) any |= c->count[k] > 0;
  if (!any || !b->ok) return;
  builder all = b_new(env);
  for (int k = 0; k < CH_KINDS && all.ok; k++) {
    if (!c->count[k]) continue;
    builder one = b_new(env);
    b_num(&one, "count", (double)c->count[k]);
    napi_value paths = NULL;
    uint32_t n = 0;
    one.ok = one.ok && NAPI_OK(napi_create_array(env, &paths));
    for (int i = 0; i < CH_PATHS && one.ok && c->paths[k][i]; i++) {
      napi_value str = NULL;
      one.ok = NAPI_OK(napi_create_string_latin1(env, c->paths[k][i], NAPI_AUTO_LENGTH, &str)) && push(env, paths, &n, str);
    }
    b_val(&one, "paths", paths);
    b_val(&all, meta_change_names[k], b_done(&one));
  }
  b_val(b, "changes", b_done(&all));
}

// rels: a JS array of latin1 strings, copied out (NULL after throwing).
// Packed rels: one latin1 string, each rel followed by a NUL (a rel never
// holds one). A batch crosses the thread boundary as one string instead of
// an array of strings: structured clone and N-API cost per element.
static char **unpack_rels(napi_env env, napi_value packed, uint32_t *n) {
  char *all = get_bytes(env, packed);
  if (!all) return NULL;
  size_t len = 0;
  if (!NAPI_OK(napi_get_value_string_latin1(env, packed, NULL, 0, &len))) {
    free(all);
    return NULL;
  }
  *n = 0;
  for (size_t i = 0; i < len; i++) *n += all[i] == '\0';
  char **rels = calloc(*n ? *n : 1, sizeof *rels);
  if (!rels) {
    free(all);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  const char *p = all;
  for (uint32_t i = 0; i < *n; i++) {
    if (!(rels[i] = strdup(p))) {
      for (uint32_t j = 0; j < i; j++) free(rels[j]);
      free(rels);
      free(all);
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    p += strlen(p) + 1;
  }
  free(all);
  return rels;
}

static char **get_rels(napi_env env, napi_value arr, uint32_t *n) {
  napi_valuetype t;
  if (!NAPI_OK(napi_typeof(env, arr, &t))) return NULL;
  if (t == napi_string) return unpack_rels(env, arr, n);
  if (!NAPI_OK(napi_get_array_length(env, arr, n))) return NULL;
  char **rels = calloc(*n ? *n : 1, sizeof *rels);
  if (!rels) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < *n; i++) {
    napi_value el;
    if (!NAPI_OK(napi_get_element(env, arr, i, &el)) || !(rels[i] = get_bytes(env, el))) {
      for (uint32_t j = 0; j < i; j++) free(rels[j]);
      free(rels);
      return NULL;
    }
  }
  return rels;
}

static void free_rels(char **rels, uint32_t n) {
  if (!rels) return;
  for (uint32_t i = 0; i < n; i++) free(rels[i]);
  free(rels);
}

static void close_owned(int fd, int owned) {
  if (owned && fd >= 0) close(fd);
}

// A copy context over the roots a binding was passed (fds, or paths opened
// here), set up and torn down the same way by every binding that copies.
typedef struct {
  copy_ctx c;
  int src, dst, src_owned, dst_owned, ready;
} bound_ctx;

// src_v may be NULL (no source root). Returns 0, or -1 with *f set or an
// exception pending; unbind_ctx either way.
static int bind_ctx(napi_env env, napi_value src_v, napi_value dst_v, const char *base, napi_value cancel_v, const meta_policy *policy, bound_ctx *b,
                    failure *f) {
  memset(b, 0, sizeof *b);
  b->src = b->dst = -1;
  if (src_v && (b->src = get_root(env, src_v, &b->src_owned, SIDE_LAYER, f)) < 0) return -1;
  if ((b->dst = get_root(env, dst_v, &b->dst_owned, SIDE_ROOTFS, f)) < 0) return -1;
  b->ready = 1;
  if (copy_ctx_init(&b->c, b->src, b->dst, base, cancel_v ? get_cancel(env, cancel_v) : NULL, f) != 0) return -1;
  if (policy) b->c.policy = *policy;
  b->c.policy.changes = &b->c.changes;
  return 0;
}

static void unbind_ctx(bound_ctx *b) {
  if (b->ready) copy_ctx_free(&b->c);
  close_owned(b->src, b->src_owned);
  close_owned(b->dst, b->dst_owned);
}

// ---- bindings --------------------------------------------------------------

// ---- work on libuv's pool, settled as a promise ----------------------------

// The promise resolved with v; where v is NULL (no memory to build it),
// rejected with the pending exception or an error saying `what` failed,
// rather than left unsettled.
static void settle(napi_env env, napi_deferred d, napi_value v, const char *what) {
  if (v) {
    NAPI_OK(napi_resolve_deferred(env, d, v));
    return;
  }
  napi_value msg = NULL, err = NULL;
  bool pending = false;
  if (NAPI_OK(napi_is_exception_pending(env, &pending)) && pending) NAPI_OK(napi_get_and_clear_last_exception(env, &err));
  if (!err && NAPI_OK(napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &msg))) NAPI_OK(napi_create_error(env, NULL, msg, &err));
  NAPI_OK(napi_reject_deferred(env, d, err));
}

// `run` queued on libuv's pool with `data`, `done` to settle *d on this
// thread: the promise, or NULL where nothing was queued (the caller frees
// data) with an exception pending. A promise made but not handed out is
// resolved (a rejection no one holds would end the process).
static napi_value queue_work(napi_env env, const char *name, napi_async_execute_callback run, napi_async_complete_callback done, void *data,
                             napi_async_work *work, napi_deferred *d) {
  napi_value promise = NULL, resource = NULL, undefined = NULL;
  bool pending = false;
  if (!NAPI_OK(napi_create_promise(env, d, &promise))) promise = NULL;
  if (promise && NAPI_OK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource)) &&
      NAPI_OK(napi_create_async_work(env, NULL, resource, run, done, data, work))) {
    if (NAPI_OK(napi_queue_async_work(env, *work))) return promise;
    NAPI_OK(napi_delete_async_work(env, *work));
  }
  // N-API settles nothing while an exception is pending: taken first, thrown again after.
  napi_value error = NULL;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &error);
  if (promise && napi_get_undefined(env, &undefined) == napi_ok) napi_resolve_deferred(env, *d, undefined);
  if (error)
    napi_throw(env, error);
  else
    napi_throw_error(env, "ERR_LAYERCOPY_QUEUE", "could not queue work on libuv's pool");
  return NULL;
}

// copyEntries(srcRoot, dstRoot, base, rels[], types, defer, cancel?, idmap?, move?)
//   -> { done, bytes, links: [{ rel, type, dev, ino, size }], large: [{ rel, size }], failure? }
// With defer, names of hardlink groups come back in links (dev and ino as
// BigInts: the group's inode; size: a regular file's) and, in batches of
// several entries, files of LARGE_FILE or more in large; neither is copied.
// With move, non-directories are hardlinked from the source instead (no
// file is big: a link writes no data).
// copyEntriesLater(...the same) -> Promise of the same, the work on a
// thread of libuv's pool: the moves of a merged walk's survivors (a few
// syscalls an entry) run there while the main thread plans the next ones.

// An entry handed back rather than copied: a hardlink group's name, or a big file.
typedef struct {
  uint32_t index;  // into rels
  copy_outcome r;
  defer_key key;
} copy_deferred;

// One copyEntries call: its arguments read on the JS thread, its work done
// on any thread (copy_job_run), its result built on the JS thread.
typedef struct {
  napi_async_work work;
  napi_deferred promise;
  napi_ref cancel_ref;  // the flag's array, kept alive while the work reads it
  meta_policy policy;
  uint32_t *ids;  // copyEntriesLater: the policy's ID map, copied (the JS arrays may go)
  char *base, *types;
  char **rels;
  uint32_t n, done, ndeferred;
  int defer, move, failed, bound;
  double bytes;
  copy_deferred *deferred;
  bound_ctx bc;
  failure f;
} copy_job;

static void copy_job_free(napi_env env, copy_job *j) {
  if (j->cancel_ref) NAPI_OK(napi_delete_reference(env, j->cancel_ref));
  if (j->bound) unbind_ctx(&j->bc);
  failure_clear(&j->f);
  free_rels(j->rels, j->n);
  free(j->types);
  free(j->base);
  free(j->ids);
  free(j->deferred);
  free(j);
}

// The ID map's triples into memory of the job's own.
static int copy_job_own_ids(copy_job *j) {
  idmap *m = &j->policy.map;
  size_t nu = m->nuid * 3, ng = m->ngid * 3;
  if (nu + ng == 0) return 1;
  if (!(j->ids = malloc((nu + ng) * sizeof *j->ids))) return 0;
  if (nu) memcpy(j->ids, m->uid, nu * sizeof *j->ids);
  if (ng) memcpy(j->ids + nu, m->gid, ng * sizeof *j->ids);
  m->uid = nu ? j->ids : NULL;
  m->gid = ng ? j->ids + nu : NULL;
  return 1;
}

// The arguments (argv: the binding's nine); NULL after throwing.
static copy_job *copy_job_parse(napi_env env, napi_value *argv, int later) {
  copy_job *j = calloc(1, sizeof *j);
  if (!j) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  napi_valuetype move_t;
  if (!get_policy(env, argv[7], &j->policy) || !NAPI_OK(napi_typeof(env, argv[8], &move_t)) ||
      (move_t != napi_undefined && !get_bool(env, argv[8], &j->move)) || !(j->base = get_bytes(env, argv[2])) || !(j->types = get_bytes(env, argv[4])) ||
      !get_bool(env, argv[5], &j->defer) || !(j->rels = get_rels(env, argv[3], &j->n))) {
    copy_job_free(env, j);
    return NULL;
  }
  if (later && !copy_job_own_ids(j)) {
    copy_job_free(env, j);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (later && get_cancel(env, argv[6]) && !NAPI_OK(napi_create_reference(env, argv[6], 1, &j->cancel_ref))) {
    copy_job_free(env, j);
    return NULL;
  }
  j->bound = 1;
  j->failed = bind_ctx(env, argv[0], argv[1], j->base, argv[6], &j->policy, &j->bc, &j->f) != 0;
  return j;
}

// The copy itself: no N-API here (copyEntriesLater runs it on libuv's pool).
static void copy_job_run(copy_job *j) {
  copy_ctx *c = &j->bc.c;
  c->move = j->move;
  if (!j->failed && strlen(j->types) < j->n) {
    fail_errno(&j->f, EINVAL, "copyEntries", SIDE_LAYER, "");
    j->failed = 1;
  }
  for (uint32_t i = 0; i < j->n && !j->failed; i++) {
    if (lc_cancelled(c->cancel)) {
      fail_code(&j->f, CODE_CANCELED, "copy", SIDE_ROOTFS, j->rels[i]);
      j->failed = 1;
      break;
    }
    defer_key key = {0};
    int64_t b = 0;
    // Big files in a batch of several go back to be copied as tasks of
    // their own, longest first (src/copy/deferred.ts).
    uint64_t large = !j->defer || j->move || j->n < 2 ? 0 : LARGE_FILE;
    copy_outcome r = copy_entry(c, j->rels[i], j->types[i], j->defer, large, &key, &b, &j->f);
    if (r == COPY_FAILED) {
      j->failed = 1;
    } else if (r == COPY_DONE) {
      j->bytes += (double)b;
      j->done++;
    } else if (!j->deferred && !(j->deferred = malloc(j->n * sizeof *j->deferred))) {
      fail_errno(&j->f, ENOMEM, "copyEntries", SIDE_ROOTFS, j->rels[i]);
      j->failed = 1;
    } else {
      j->deferred[j->ndeferred++] = (copy_deferred){i, r, key};
    }
  }
}

// { done, bytes, links, large, changes?, failure? }; NULL after throwing.
static napi_value copy_job_result(napi_env env, copy_job *j) {
  napi_value links_v, large_v;
  if (!NAPI_OK(napi_create_array(env, &links_v)) || !NAPI_OK(napi_create_array(env, &large_v))) return NULL;
  uint32_t nlinks = 0, nlarge = 0;
  for (uint32_t k = 0; k < j->ndeferred; k++) {
    const copy_deferred *d = &j->deferred[k];
    builder e = b_new(env);
    b_str(&e, "rel", j->rels[d->index]);
    if (d->r == COPY_DEFER_LINKED) {
      char type[2] = {d->key.type, '\0'};
      b_str(&e, "type", type);
      b_u64(&e, "dev", d->key.dev);
      b_u64(&e, "ino", d->key.ino);
      b_num(&e, "nlink", (double)d->key.nlink);
    }
    b_num(&e, "size", (double)d->key.size);
    if (!push(env, d->r == COPY_DEFER_LINKED ? links_v : large_v, d->r == COPY_DEFER_LINKED ? &nlinks : &nlarge, b_done(&e))) return NULL;
  }
  builder b = b_new(env);
  b_num(&b, "done", j->done);
  b_num(&b, "bytes", j->bytes);
  b_val(&b, "links", links_v);
  b_val(&b, "large", large_v);
  b_changes(&b, &j->bc.c.changes);
  if (j->failed) b_val(&b, "failure", failure_value(env, &j->f));
  return b_done(&b);
}

static napi_value copy_entries(napi_env env, napi_callback_info info) {
  napi_value argv[9], result = NULL;
  if (!get_args(env, info, 9, argv)) return NULL;
  copy_job *j = copy_job_parse(env, argv, 0);
  if (!j) return NULL;
  copy_job_run(j);
  result = copy_job_result(env, j);
  copy_job_free(env, j);
  return result;
}

static void copy_later_execute(napi_env env, void *data) {
  (void)env;
  copy_job_run(data);
}

static void copy_later_complete(napi_env env, napi_status status, void *data) {
  copy_job *j = data;
  if (status != napi_ok) {
    fail_errno(&j->f, ECANCELED, "copyEntries", SIDE_ROOTFS, j->n > 0 ? j->rels[0] : "");
    j->failed = 1;
  }
  settle(env, j->promise, copy_job_result(env, j), "copyEntriesLater failed");
  NAPI_OK(napi_delete_async_work(env, j->work));
  copy_job_free(env, j);
}

static napi_value copy_entries_later(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, argv)) return NULL;
  copy_job *j = copy_job_parse(env, argv, 1);
  if (!j) return NULL;
  napi_value promise = queue_work(env, "layercopy:copy", copy_later_execute, copy_later_complete, j, &j->work, &j->promise);
  if (!promise) copy_job_free(env, j);
  return promise;
}

// dirMeta(srcRoot, dstRoot, base, rels[], keepRootMode, cancel?, policy?)
//   -> { done, changes?, later?: [{ rel, mode }], failure? }
// later: directories set u+rwx for now, their modes due at the end
// (setModes; native/meta.h, meta_dst.later).
static napi_value dir_meta_entries(napi_env env, napi_callback_info info) {
  napi_value argv[7], result = NULL;
  if (!get_args(env, info, 7, argv)) return NULL;
  meta_policy policy;
  if (!get_policy(env, argv[6], &policy)) return NULL;
  int keep_root = 0;
  uint32_t n = 0, done = 0;
  char *base = get_bytes(env, argv[2]);
  char **rels = base && get_bool(env, argv[4], &keep_root) ? get_rels(env, argv[3], &n) : NULL;
  if (!rels) {
    free(base);
    return NULL;
  }
  failure f = {0};
  bound_ctx bc;
  napi_value later_v = NULL;
  uint32_t nlater = 0;
  if (!NAPI_OK(napi_create_array(env, &later_v))) later_v = NULL;
  int failed = bind_ctx(env, argv[0], argv[1], base, argv[5], &policy, &bc, &f) != 0;
  for (uint32_t i = 0; i < n && !failed; i++) {
    if (lc_cancelled(bc.c.cancel)) {
      fail_code(&f, CODE_CANCELED, "set directory metadata", SIDE_ROOTFS, rels[i]);
      failed = 1;
      break;
    }
    int is_root = base[0] == '\0' && (rels[i][0] == '\0' || strcmp(rels[i], ".") == 0);
    mode_t later;
    if (dir_meta(&bc.c, rels[i], keep_root && is_root, &later, &f) != 0) {
      failed = 1;
    } else {
      done++;
      if (later != (mode_t)-1 && later_v) {
        builder l = b_new(env);
        b_str(&l, "rel", rels[i]);
        b_num(&l, "mode", later);
        if (!push(env, later_v, &nlater, b_done(&l))) later_v = NULL;
      }
    }
  }
  builder b = b_new(env);
  b_num(&b, "done", done);
  if (nlater > 0) b_val(&b, "later", later_v);
  b_changes(&b, &bc.c.changes);
  if (failed) b_val(&b, "failure", failure_value(env, &f));
  result = b_done(&b);
  unbind_ctx(&bc);
  failure_clear(&f);
  free_rels(rels, n);
  free(base);
  return result;
}

// linkEntries(dstRoot, [existing, new, ...]) -> { done, failure? }
static napi_value link_entries(napi_env env, napi_callback_info info) {
  napi_value argv[2], result = NULL;
  if (!get_args(env, info, 2, argv)) return NULL;
  uint32_t n = 0, done = 0;
  char **rels = get_rels(env, argv[1], &n);
  if (!rels) return NULL;
  failure f = {0};
  bound_ctx bc;
  parent_cache other;
  int failed = bind_ctx(env, NULL, argv[0], NULL, NULL, NULL, &bc, &f) != 0;
  pc_init(&other, bc.dst, O_PATH);
  for (uint32_t i = 0; i + 1 < n && !failed; i += 2) {
    if (link_entry(&bc.c, &other, rels[i], rels[i + 1], &f) != 0)
      failed = 1;
    else
      done++;
  }
  builder b = b_new(env);
  b_num(&b, "done", done);
  if (failed) b_val(&b, "failure", failure_value(env, &f));
  result = b_done(&b);
  pc_close(&other);
  unbind_ctx(&bc);
  failure_clear(&f);
  free_rels(rels, n);
  return result;
}

// A listing as NUL-terminated names in two packed strings, directories
// apart, for a directory only one layer contributes to (src/strategies/merged-plan.ts): the
// planner hands `files` to a copy batch and never makes a JS string per
// name. NULL (nothing set) when a name is a marker or of an unknown type:
// those take the general path.
static int split_listing(builder *b, const listing *l) {
  size_t total = l->names_len;
  char *files = malloc(total + 1), *dirs = malloc(total + 1), *ftypes = malloc(l->count + 1);
  int ok = files && dirs && ftypes, plain = 1;
  size_t fl = 0, dl = 0, fc = 0;
  const char *p = l->names;
  for (size_t i = 0; ok && i < l->count; i++) {
    size_t len = strlen(p) + 1;
    char t = l->types[i];
    if (t == '?' || strncmp(p, WHITEOUT_PREFIX, sizeof WHITEOUT_PREFIX - 1) == 0) {
      plain = 0;
      break;
    }
    if (t == 'd') {
      memcpy(dirs + dl, p, len);
      dl += len;
    } else {
      memcpy(files + fl, p, len);
      fl += len;
      ftypes[fc++] = t;
    }
    p += len;
  }
  if (!ok) {
    napi_env env = b->env;
    napi_throw_error(env, NULL, "out of memory");
    b->ok = 0;
  } else if (plain) {
    napi_env env = b->env;
    napi_value v;
    b->ok = b->ok && NAPI_OK(napi_create_string_latin1(env, files, fl, &v));
    b_val(b, "files", v);
    b->ok = b->ok && NAPI_OK(napi_create_string_latin1(env, ftypes, fc, &v));
    b_val(b, "fileTypes", v);
    b->ok = b->ok && NAPI_OK(napi_create_string_latin1(env, dirs, dl, &v));
    b_val(b, "dirs", v);
  }
  free(files);
  free(dirs);
  free(ftypes);
  return plain;
}

// listDir(root, rel, split?, unlock?) -> { names: string[], types: string } | { failure }
//   | (split, no markers) { files, fileTypes, dirs }: see split_listing
static napi_value list_dir_js(napi_env env, napi_callback_info info) {
  napi_value argv[4], names;
  if (!get_args(env, info, 4, argv)) return NULL;
  int split = 0, unlock = 0;
  napi_valuetype vt, ut;
  if (!NAPI_OK(napi_typeof(env, argv[2], &vt)) || !NAPI_OK(napi_typeof(env, argv[3], &ut))) return NULL;
  if (vt != napi_undefined && !get_bool(env, argv[2], &split)) return NULL;
  if (ut != napi_undefined && !get_bool(env, argv[3], &unlock)) return NULL;
  char *rel = get_bytes(env, argv[1]);
  if (!rel) return NULL;
  failure f = {0};
  listing l = {0};
  int owned = 0;
  int root = get_root(env, argv[0], &owned, SIDE_LAYER, &f);
  int rc = root < 0 ? -1 : list_dir(root, rel, SIDE_LAYER, unlock, &l, &f);
  builder b = b_new(env);
  if (rc != 0) {
    if (f.syscall)
      b_val(&b, "failure", failure_value(env, &f));
    else
      b.ok = 0;
  } else if (split && split_listing(&b, &l)) {
    // b holds the split form (or a pending exception).
  } else if (b.ok && NAPI_OK(napi_create_array_with_length(env, l.count, &names))) {
    const char *p = l.names;
    for (size_t i = 0; i < l.count && b.ok; i++) {
      napi_value v;
      size_t len = strlen(p);
      b.ok = NAPI_OK(napi_create_string_latin1(env, p, len, &v)) && NAPI_OK(napi_set_element(env, names, (uint32_t)i, v));
      p += len + 1;
    }
    b_val(&b, "names", names);
    b_str(&b, "types", l.types ? l.types : "");
  } else {
    b.ok = 0;
  }
  napi_value result = b_done(&b);
  listing_free(&l);
  close_owned(root, owned);
  free(rel);
  return result;
}

// mergeDir(roots, rel, unlock?) -> roots: the contributing layers' roots,
// highest first (native/merge.h). { files: string[], fileTypes: string[],
// dirs, dirLayers, whiteouts: number[], replaced: number[] } (per position:
// packed names, type letters, counts; dirLayers: each subdirectory's
// positions + 1, then 0, as UTF-16 code units) | { invalid, at, name }
// ('type' | 'nothing' | 'unknown') | { failure, at }
static napi_value merge_dir_js(napi_env env, napi_callback_info info) {
  napi_value argv[3], arr;
  if (!get_args(env, info, 3, argv)) return NULL;
  int unlock = 0;
  napi_valuetype ut;
  if (!NAPI_OK(napi_typeof(env, argv[2], &ut))) return NULL;
  if (ut != napi_undefined && !get_bool(env, argv[2], &unlock)) return NULL;
  uint32_t n = 0;
  if (!NAPI_OK(napi_get_array_length(env, argv[0], &n)) || n == 0) return NULL;
  int *roots = calloc(n, sizeof *roots), *owned = calloc(n, sizeof *owned);
  char *rel = get_bytes(env, argv[1]);
  failure f = {0};
  merge_out m = {0};
  int rc = (!roots || !owned || !rel) ? -2 : 0;
  uint32_t got = 0;
  for (; got < n && rc == 0; got++) {
    napi_value v;
    if (!NAPI_OK(napi_get_element(env, argv[0], got, &v)) || (roots[got] = get_root(env, v, &owned[got], SIDE_LAYER, &f)) < 0) rc = f.syscall ? -1 : -2;
  }
  if (rc == 0) rc = merge_dir(roots, n, rel, unlock, &m, &f);
  builder b = b_new(env);
  if (rc == -2) {
    b.ok = 0;
  } else if (rc != 0) {
    b_val(&b, "failure", failure_value(env, &f));
    b_num(&b, "at", rc == -1 && m.n ? (double)(m.at < n ? m.at : 0) : (double)(got ? got - 1 : 0));
  } else if (m.invalid) {
    static const char *const why[] = {"", "type", "nothing", "unknown"};
    b_str(&b, "invalid", why[m.invalid]);
    b_num(&b, "at", (double)m.at);
    b_str(&b, "name", m.name);
  } else {
    napi_value files, types, v;
    b.ok = b.ok && NAPI_OK(napi_create_array_with_length(env, n, &files)) && NAPI_OK(napi_create_array_with_length(env, n, &types));
    for (uint32_t i = 0; i < n && b.ok; i++) {
      b.ok = NAPI_OK(napi_create_string_latin1(env, m.files[i] ? m.files[i] : "", m.files_len[i], &v)) && NAPI_OK(napi_set_element(env, files, i, v)) &&
             NAPI_OK(napi_create_string_latin1(env, m.types[i] ? m.types[i] : "", m.types_len[i], &v)) && NAPI_OK(napi_set_element(env, types, i, v));
    }
    if (b.ok) b_val(&b, "files", files);
    if (b.ok) b_val(&b, "fileTypes", types);
    b.ok = b.ok && NAPI_OK(napi_create_string_latin1(env, m.dirs ? m.dirs : "", m.dirs_len, &v));
    b_val(&b, "dirs", v);
    b.ok = b.ok && NAPI_OK(napi_create_string_utf16(env, m.dir_layers ? (const char16_t *)m.dir_layers : u"", m.dir_layers_len, &v));
    b_val(&b, "dirLayers", v);
    const char *counts[] = {"whiteouts", "replaced"};
    long *of[] = {m.whiteouts, m.replaced};
    for (int c = 0; c < 2 && b.ok; c++) {
      b.ok = NAPI_OK(napi_create_array_with_length(env, n, &arr));
      for (uint32_t i = 0; i < n && b.ok; i++) b.ok = NAPI_OK(napi_create_double(env, (double)of[c][i], &v)) && NAPI_OK(napi_set_element(env, arr, i, v));
      b_val(&b, counts[c], arr);
    }
  }
  napi_value result = b_done(&b);
  merge_free(&m);
  failure_clear(&f);
  for (uint32_t i = 0; i < got && roots && owned; i++) close_owned(roots[i], owned[i]);
  free(roots);
  free(owned);
  free(rel);
  return result;
}

typedef enum { OP_REMOVE, OP_MKDIR, OP_OPEN } entry_op;

// remove_tree names paths from the removed entry's parent: made relative to
// the root again when rel has directories before that entry (name).
static void prefix_rel(failure *f, const char *rel, const char *name) {
  if (!f->owned || f->rel != f->owned || name == rel) return;
  size_t dir = (size_t)(name - rel), len = dir + strlen(f->owned) + 1;
  char *p = malloc(len);
  if (!p) return;
  memcpy(p, rel, dir);
  strcpy(p + dir, f->owned);
  free(f->owned);
  f->owned = p;
  f->rel = p;
}

// One entry below a root, reached through its parent opened beneath the
// root (no symlink on the way is followed):
//   removeEntry(root, rel, forceWritable, cancel?) -> failure | null
//   makeDir(root, rel) -> failure | null (mode 0700 until its metadata is set)
//   openDir(root, rel) -> { fd } | failure (O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
static napi_value at_entry(napi_env env, napi_callback_info info, entry_op op) {
  napi_value argv[4], result = NULL;
  if (!get_args(env, info, 4, argv)) return NULL;
  int force = 0;
  if (op == OP_REMOVE && !get_bool(env, argv[2], &force)) return NULL;
  char *rel = get_bytes(env, argv[1]);
  if (!rel) return NULL;
  failure f = {0};
  int failed = 0, owned = 0, fd = -1;
  parent_cache pc;
  int root = get_root(env, argv[0], &owned, SIDE_ROOTFS, &f);
  pc_init(&pc, root, O_PATH);
  const char *name = rel;
  int dir = root < 0 ? -1 : parent_of(&pc, rel, &name);
  if (root < 0) {
    failed = 1;
  } else if (dir < 0) {
    // Removing what is not there is done; anything else is a failure.
    if (!(op == OP_REMOVE && errno == ENOENT)) {
      fail_errno(&f, errno, "openat2", SIDE_ROOTFS, rel);
      failed = 1;
    }
  } else if (op == OP_REMOVE) {
    if (remove_tree(dir, name, force, get_cancel(env, argv[3]), &f) != 0) {
      if (!f.rel) f.rel = rel;
      prefix_rel(&f, rel, name);
      failed = 1;
    }
  } else if (op == OP_MKDIR) {
    if (mkdirat(dir, name, 0700) != 0) {
      fail_errno(&f, errno, "mkdir", SIDE_ROOTFS, rel);
      failed = 1;
    }
  } else if ((fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0) {
    fail_errno(&f, errno, "open", SIDE_ROOTFS, rel);
    failed = 1;
  }
  if (failed) {
    result = failure_value(env, &f);
  } else if (op == OP_OPEN) {
    builder b = b_new(env);
    b_num(&b, "fd", fd);
    result = b_done(&b);
  } else {
    NAPI_OK(napi_get_null(env, &result));
  }
  pc_close(&pc);
  close_owned(root, owned);
  failure_clear(&f);
  free(rel);
  return result;
}

static napi_value remove_entry(napi_env env, napi_callback_info info) { return at_entry(env, info, OP_REMOVE); }

// removeEntriesLater(root, rels[], forceWritable, cancel?) -> Promise<failure
// | null>: removeEntry of each rel in turn on a libuv thread, stopping at
// the first failure. A tree a layer replaces can take 0.1-0.6 s to remove;
// on the main thread that held Ctrl-C (its handler sets the cancel flag the
// removal reads) for as long. One call for all of a directory's: a round
// trip each cost 60 us (20,000 replaced directories: 1.2 s more).
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref cancel_ref;  // the flag's array, kept alive while the thread reads it
  const int32_t *cancel;
  int root, owned, force, failed;
  char **rels;
  uint32_t n;
  failure f;
} remove_job;

static void remove_execute(napi_env env, void *data) {
  (void)env;
  remove_job *j = data;
  parent_cache pc;
  pc_init(&pc, j->root, O_PATH);
  for (uint32_t i = 0; i < j->n && !j->failed; i++) {
    const char *rel = j->rels[i], *name = rel;
    int dir = parent_of(&pc, rel, &name);
    if (dir < 0) {
      if (errno != ENOENT) {
        fail_errno(&j->f, errno, "openat2", SIDE_ROOTFS, rel);
        j->failed = 1;
      }
    } else if (remove_tree(dir, name, j->force, j->cancel, &j->f) != 0) {
      if (!j->f.rel) j->f.rel = rel;
      prefix_rel(&j->f, rel, name);
      j->failed = 1;
    }
  }
  pc_close(&pc);
}

static void remove_job_free(napi_env env, remove_job *j) {
  if (j->cancel_ref) NAPI_OK(napi_delete_reference(env, j->cancel_ref));
  close_owned(j->root, j->owned);
  failure_clear(&j->f);
  for (uint32_t i = 0; i < j->n; i++) free(j->rels[i]);
  free(j->rels);
  free(j);
}

static void remove_complete(napi_env env, napi_status status, void *data) {
  remove_job *j = data;
  napi_value v = NULL;
  if (status != napi_ok) {
    fail_errno(&j->f, ECANCELED, "remove", SIDE_ROOTFS, j->n > 0 ? j->rels[0] : "");
    j->failed = 1;
  }
  if (j->failed)
    v = failure_value(env, &j->f);
  else
    NAPI_OK(napi_get_null(env, &v));
  settle(env, j->deferred, v, "removal failed");
  NAPI_OK(napi_delete_async_work(env, j->work));
  remove_job_free(env, j);
}

static napi_value remove_entries_later(napi_env env, napi_callback_info info) {
  napi_value argv[4], promise = NULL;
  if (!get_args(env, info, 4, argv)) return NULL;
  remove_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "removeEntriesLater", NULL);
  j->root = -1;
  uint32_t n = 0;
  if (!get_bool(env, argv[2], &j->force) || !NAPI_OK(napi_get_array_length(env, argv[1], &n)) || !(j->rels = calloc(n ? n : 1, sizeof *j->rels))) {
    remove_job_free(env, j);
    return NULL;
  }
  for (; j->n < n; j->n++) {
    napi_value v;
    if (!NAPI_OK(napi_get_element(env, argv[1], j->n, &v)) || !(j->rels[j->n] = get_bytes(env, v))) {
      remove_job_free(env, j);
      return NULL;
    }
  }
  j->root = get_root(env, argv[0], &j->owned, SIDE_ROOTFS, &j->f);
  if (j->root < 0) {
    napi_value v = failure_value(env, &j->f);
    remove_job_free(env, j);
    napi_deferred d;
    if (!v || !NAPI_OK(napi_create_promise(env, &d, &promise)) || !NAPI_OK(napi_resolve_deferred(env, d, v))) return NULL;
    return promise;
  }
  if ((j->cancel = get_cancel(env, argv[3])) && !NAPI_OK(napi_create_reference(env, argv[3], 1, &j->cancel_ref))) j->cancel = NULL;
  promise = queue_work(env, "layercopy:remove", remove_execute, remove_complete, j, &j->work, &j->deferred);
  if (!promise) remove_job_free(env, j);
  return promise;
}

static napi_value make_dir(napi_env env, napi_callback_info info) { return at_entry(env, info, OP_MKDIR); }
static napi_value open_dir(napi_env env, napi_callback_info info) { return at_entry(env, info, OP_OPEN); }

// makeDirs(root, parentRel, packedNames) -> failure | null: mkdirat of each
// name (mode 0700 until its metadata is set) in parentRel, opened once
// beneath root; a directory's new subdirectories in one call.
static napi_value make_dirs(napi_env env, napi_callback_info info) {
  napi_value argv[3], result = NULL;
  if (!get_args(env, info, 3, argv)) return NULL;
  uint32_t n = 0;
  char *parent = get_bytes(env, argv[1]);
  char **names = parent ? get_rels(env, argv[2], &n) : NULL;
  if (!names) {
    free(parent);
    return NULL;
  }
  failure f = {0};
  int owned = 0, failed = 0, dir = -1;
  int root = get_root(env, argv[0], &owned, SIDE_ROOTFS, &f);
  if (root < 0) {
    failed = 1;
  } else if ((dir = open_beneath(root, parent, O_PATH | O_DIRECTORY)) < 0) {
    fail_errno(&f, errno, "openat2", SIDE_ROOTFS, parent);
    failed = 1;
  }
  for (uint32_t i = 0; i < n && !failed; i++) {
    if (mkdirat(dir, names[i], 0700) != 0) {
      size_t len = strlen(parent) + strlen(names[i]) + 2;
      f.owned = malloc(len);
      if (f.owned) snprintf(f.owned, len, "%s%s%s", parent, parent[0] ? "/" : "", names[i]);
      fail_errno(&f, errno, "mkdir", SIDE_ROOTFS, f.owned ? f.owned : parent);
      failed = 1;
    }
  }
  result = null_or_failure(env, failed, &f);
  if (dir >= 0) close(dir);
  close_owned(root, owned);
  free_rels(names, n);
  free(parent);
  return result;
}

// renameNoReplace(dirFd, from, to, overEmpty?) -> errno (0 on success). The
// commit step must not replace a ROOTFS that appeared meanwhile, even an
// empty directory, which plain rename(2) would do. overEmpty: ROOTFS was an
// empty directory when the provision began: plain renameat, which replaces
// it only while it is still an empty directory (ENOTEMPTY otherwise).
static napi_value rename_noreplace(napi_env env, napi_callback_info info) {
  napi_value argv[4], v = NULL;
  if (!get_args(env, info, 4, argv)) return NULL;
  int32_t dir = -1;
  bool over_empty = false;
  if (!NAPI_OK(napi_get_value_int32(env, argv[0], &dir))) return NULL;
  napi_valuetype t;
  if (NAPI_OK(napi_typeof(env, argv[3], &t)) && t == napi_boolean && !NAPI_OK(napi_get_value_bool(env, argv[3], &over_empty))) return NULL;
  char *from = get_bytes(env, argv[1]);
  char *to = from ? get_bytes(env, argv[2]) : NULL;
  if (to) {
    int e = lc_renameat2(dir, from, dir, to, over_empty ? 0 : RENAME_NOREPLACE) == 0 ? 0 : errno;
    NAPI_OK(napi_create_int32(env, e, &v));
  }
  free(from);
  free(to);
  return v;
}

static napi_value boolean(napi_env env, int b) {
  napi_value v = NULL;
  NAPI_OK(napi_get_boolean(env, b, &v));
  return v;
}

// ---- writing entries from a tar stream (src/images/) ----------------------

// ---- zstd through the system's libzstd (native/zstd.c) ----------------------

static void zstd_finalize(napi_env env, void *data, void *hint) { zstd_close(data); }

// zstdOpen() -> handle | null (libzstd.so.1 not found)
static napi_value zstd_open_js(napi_env env, napi_callback_info info) {
  napi_value result = NULL;
  zstd_stream *z = zstd_open();
  if (!z) {
    NAPI_OK(napi_get_null(env, &result));
  } else if (!NAPI_OK(napi_create_external(env, z, zstd_finalize, NULL, &result))) {
    zstd_close(z);
    result = NULL;
  }
  return result;
}

// zstdFeed(handle, chunk, pos) -> { data: Buffer, pos, frameDone }: at
// most ZSTD_OUT bytes from chunk[pos..]; throws on corrupt input.
#define ZSTD_OUT (1 << 20)
static napi_value zstd_feed_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  void *z = NULL, *in = NULL;
  size_t in_len = 0;
  double pos_d = 0;
  if (!NAPI_OK(napi_get_value_external(env, argv[0], &z)) || !NAPI_OK(napi_get_buffer_info(env, argv[1], &in, &in_len)) ||
      !NAPI_OK(napi_get_value_double(env, argv[2], &pos_d)))
    return NULL;
  size_t pos = pos_d < 0 ? 0 : pos_d > (double)in_len ? in_len : (size_t)pos_d;
  // A buffer V8 allocates and counts: malloc'd external buffers are not
  // counted, so GC did not run while a bomb's pieces piled up (2 GiB RSS).
  void *out = NULL;
  napi_value data = NULL;
  if (!NAPI_OK(napi_create_buffer(env, ZSTD_OUT, &out, &data))) return NULL;
  size_t out_len = 0;
  int frame_done = 0;
  const char *error = zstd_feed(z, in, in_len, &pos, out, ZSTD_OUT, &out_len, &frame_done);
  if (error) {
    napi_throw_error(env, "ERR_ZSTD", error);
    return NULL;
  }
  builder b = b_new(env);
  b_val(&b, "data", data);
  b_num(&b, "length", (double)out_len);
  b_num(&b, "pos", (double)pos);
  b_val(&b, "frameDone", boolean(env, frame_done));
  return b_done(&b);
}

// ---- tar layers (native/tar.c) ---------------------------------------------

static void tar_finalize(napi_env env, void *data, void *hint) {
  tar_close(*(tar_reader **)data);
  free(data);
}

// The reader behind a handle; NULL (after throwing) when it is closed.
static tar_reader **tar_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (!NAPI_OK(napi_get_value_external(env, v, &p))) return NULL;
  return p;
}

// tarOpen(rootFd, claims?, layer?, policy?, flags?) -> handle: a tar
// stream written beneath the directory fd (borrowed: it must stay open
// until tarClose), as layer `layer` of the claims set (claimsOpen) when
// given, entries getting their metadata by the policy (get_policy); flags:
// TAR_DIRECT | TAR_NO_RECORD (native/tar.h).
static napi_value tar_open_js(napi_env env, napi_callback_info info) {
  napi_value argv[5], result = NULL;
  if (!get_args(env, info, 5, argv)) return NULL;
  int32_t root = -1, claims_id = 0, layer = 0, flags = 0;
  napi_valuetype t;
  meta_policy policy;
  if (!NAPI_OK(napi_get_value_int32(env, argv[0], &root)) || !NAPI_OK(napi_typeof(env, argv[1], &t)) || !get_policy(env, argv[3], &policy)) return NULL;
  if (t != napi_undefined && (!NAPI_OK(napi_get_value_int32(env, argv[1], &claims_id)) || !NAPI_OK(napi_get_value_int32(env, argv[2], &layer)))) return NULL;
  if (!NAPI_OK(napi_typeof(env, argv[4], &t)) || (t != napi_undefined && !NAPI_OK(napi_get_value_int32(env, argv[4], &flags)))) return NULL;
  failure f = {0};
  tar_reader **h = malloc(sizeof *h);
  if (!h) return throw_errno(env, ENOMEM, "malloc", NULL);
  if (!(*h = tar_open(root, claims_id, layer, flags, &policy, &f))) {
    free(h);
    return throw_errno(env, f.err, f.syscall, NULL);
  }
  if (!NAPI_OK(napi_create_external(env, h, tar_finalize, NULL, &result))) {
    tar_close(*h);
    free(h);
    return NULL;
  }
  return result;
}

// claimsOpen() -> id: a set the tar layers of one provision share (native/claims.h).
static napi_value claims_open_js(napi_env env, napi_callback_info info) {
  napi_value result = NULL;
  int id = claims_open();
  if (id < 0) return throw_errno(env, ENOMEM, "claims", NULL);
  NAPI_OK(napi_create_int32(env, id, &result));
  return result;
}

// claimsClose(id): freed once the last reader holding it closes.
static napi_value claims_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t id = 0;
  if (!get_args(env, info, 1, argv) || !NAPI_OK(napi_get_value_int32(env, argv[0], &id))) return NULL;
  claims_close(id);
  return NULL;
}

// tarFeed(handle, chunk, cancel?) -> failure | null
static napi_value tar_feed_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  tar_reader **h = tar_handle(env, argv[0]);
  void *data = NULL;
  size_t len = 0;
  if (!h || !NAPI_OK(napi_get_buffer_info(env, argv[1], &data, &len))) return NULL;
  failure f = {0};
  int rc = -1;
  if (*h)
    rc = tar_feed(*h, data, len, get_cancel(env, argv[2]), &f);
  else
    fail_errno(&f, EBADF, "tar", SIDE_ROOTFS, NULL);
  return null_or_failure(env, rc, &f);
}

// tarSettle(handle) -> failure | null: TAR_PIPE, what the chunks queued
// came to (tar_settle), where the input failed before its end.
static napi_value tar_settle_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  tar_reader **h = tar_handle(env, argv[0]);
  if (!h) return NULL;
  failure f = {0};
  return null_or_failure(env, *h ? tar_settle(*h, &f) : 0, &f);
}

// tarFinish(handle) -> { entries, bytes, implied, changes?, tree, rootMode }
// | { failure }: the input ended; directories get their metadata; implied:
// the directories no header described, packed (latin1, as listDir's
// names); changes: what the policy changed (b_changes); tree: the tree as
// it stands ({entries, directories, hardlinks, bytes}: write_tally);
// rootMode: tar_root_mode; digest: with TAR_HASH, "sha256:<hex>" of
// every byte fed (tar_digest). The reader is closed either way.
static napi_value tar_finish_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  tar_reader **h = tar_handle(env, argv[0]);
  if (!h) return NULL;
  failure f = {0};
  uint64_t entries = 0, bytes = 0;
  char *implied = NULL;
  size_t implied_len = 0;
  int rc = *h ? tar_finish(*h, &entries, &bytes, &implied, &implied_len, &f) : -1;
  if (!*h) fail_errno(&f, EBADF, "tar", SIDE_ROOTFS, NULL);
  builder b = b_new(env);
  if (rc == 0) b_changes(&b, tar_changes(*h));
  write_tally tree = *h ? *tar_tally(*h) : (write_tally){0};
  mode_t root_mode = *h ? tar_root_mode(*h) : 0;
  if (rc == 0) b_str(&b, "digest", tar_digest(*h));
  tar_close(*h);
  *h = NULL;
  if (rc != 0) {
    b_val(&b, "failure", failure_value(env, &f));
  } else {
    b_num(&b, "entries", (double)entries);
    b_num(&b, "bytes", (double)bytes);
    napi_value v;
    b.ok = b.ok && NAPI_OK(napi_create_string_latin1(env, implied, implied_len, &v));
    b_val(&b, "implied", v);
    builder tb = b_new(env);
    b_num(&tb, "entries", (double)tree.entries);
    b_num(&tb, "directories", (double)tree.directories);
    b_num(&tb, "hardlinks", (double)tree.hardlinks);
    b_num(&tb, "bytes", (double)tree.bytes);
    b_val(&b, "tree", b_done(&tb));
    b_num(&b, "rootMode", (double)root_mode);
  }
  free(implied);
  failure_clear(&f);
  return b_done(&b);
}

// tarClose(handle): closes the file being written and frees the reader (a failed or abandoned stream).
static napi_value tar_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  tar_reader **h = tar_handle(env, argv[0]);
  if (!h) return NULL;
  tar_close(*h);
  *h = NULL;
  return NULL;
}

// tarMembers(file: path | fd, limit?) -> { members: [{ name, type, offset,
// size }] } | { failure }: the members of an uncompressed tar, from its
// headers only (native/tarscan.c), the first `limit` where given. A path is
// opened O_NOFOLLOW; an fd is borrowed.
static napi_value tar_members_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  napi_valuetype t;
  if (!NAPI_OK(napi_typeof(env, argv[0], &t))) return NULL;
  napi_valuetype lt;
  uint32_t limit = 0;
  if (!NAPI_OK(napi_typeof(env, argv[1], &lt))) return NULL;
  if (lt == napi_number && !NAPI_OK(napi_get_value_uint32(env, argv[1], &limit))) return NULL;
  failure f = {0};
  int fd = -1, owned = 0;
  if (t == napi_number) {
    if (!NAPI_OK(napi_get_value_int32(env, argv[0], &fd))) return NULL;
  } else {
    char *path = get_utf8(env, argv[0]);
    if (!path) return NULL;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    free(path);
    owned = 1;
  }
  tar_members m = {0};
  int rc = -1;
  if (fd < 0)
    fail_errno(&f, errno, "open", SIDE_LAYER, NULL);
  else
    rc = tarscan(fd, limit, &m, &f);
  if (owned && fd >= 0) close(fd);
  builder b = b_new(env);
  if (rc != 0) {
    b_val(&b, "failure", failure_value(env, &f));
  } else {
    napi_value list = NULL;
    uint32_t n = 0;
    b.ok = b.ok && NAPI_OK(napi_create_array_with_length(env, m.n, &list));
    for (size_t i = 0; b.ok && i < m.n; i++) {
      builder e = b_new(env);
      char type[2] = {m.v[i].type, 0};
      b_str(&e, "name", m.v[i].name);
      b_str(&e, "type", type);
      // Below 2^53 (tarscan.h): exact as doubles.
      b_num(&e, "offset", (double)m.v[i].offset);
      b_num(&e, "size", (double)m.v[i].size);
      b.ok = e.ok && push(env, list, &n, b_done(&e));
    }
    b_val(&b, "members", list);
  }
  tarscan_free(&m);
  failure_clear(&f);
  return b_done(&b);
}

// ---- file locks (the store's per-digest locks, src/store/lock.ts) ---------

// flock(2) locks belong to the open file description: a process that dies,
// however it dies, releases them, so no lock file a crash leaves is ever
// held. The wait runs on a libuv thread (napi_create_async_work), never on
// the event loop.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int fd;
  int op;
  int err;
} flock_job;

static void flock_execute(napi_env env, void *data) {
  flock_job *j = data;
  int rc;
  do rc = flock(j->fd, j->op);
  while (rc != 0 && errno == EINTR);
  j->err = rc == 0 ? 0 : errno;
}

static void flock_complete(napi_env env, napi_status status, void *data) {
  flock_job *j = data;
  napi_value v = NULL;
  if (NAPI_OK(napi_create_int32(env, status == napi_ok ? j->err : ECANCELED, &v))) NAPI_OK(napi_resolve_deferred(env, j->deferred, v));
  NAPI_OK(napi_delete_async_work(env, j->work));
  free(j);
}

// flock(fd, exclusive, wait) -> Promise<errno>: 0 once the lock is held;
// without wait, EWOULDBLOCK where another holds a conflicting one.
static napi_value flock_js(napi_env env, napi_callback_info info) {
  napi_value argv[3], promise = NULL, name = NULL;
  if (!get_args(env, info, 3, argv)) return NULL;
  int32_t fd = -1;
  int exclusive = 0, wait = 0;
  if (!NAPI_OK(napi_get_value_int32(env, argv[0], &fd)) || !get_bool(env, argv[1], &exclusive) || !get_bool(env, argv[2], &wait)) return NULL;
  flock_job *j = calloc(1, sizeof *j);
  if (!j) return throw_errno(env, ENOMEM, "flock", NULL);
  j->fd = fd;
  j->op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
  if (!NAPI_OK(napi_create_promise(env, &j->deferred, &promise)) || !NAPI_OK(napi_create_string_utf8(env, "layercopy:flock", NAPI_AUTO_LENGTH, &name)) ||
      !NAPI_OK(napi_create_async_work(env, NULL, name, flock_execute, flock_complete, j, &j->work))) {
    free(j);
    return NULL;
  }
  if (!NAPI_OK(napi_queue_async_work(env, j->work))) {
    NAPI_OK(napi_delete_async_work(env, j->work));
    free(j);
    return NULL;
  }
  return promise;
}

// flockTry(fd, mode) -> errno: mode 'sh' or 'ex' (never waits: EWOULDBLOCK
// where another holds a conflicting lock), or 'un'.
static napi_value flock_try_js(napi_env env, napi_callback_info info) {
  napi_value argv[2], v = NULL;
  if (!get_args(env, info, 2, argv)) return NULL;
  int32_t fd = -1;
  if (!NAPI_OK(napi_get_value_int32(env, argv[0], &fd))) return NULL;
  char *mode = get_utf8(env, argv[1]);
  if (!mode) return NULL;
  int op = strcmp(mode, "ex") == 0 ? LOCK_EX | LOCK_NB : strcmp(mode, "sh") == 0 ? LOCK_SH | LOCK_NB : strcmp(mode, "un") == 0 ? LOCK_UN : -1;
  free(mode);
  if (op < 0) {
    napi_throw_type_error(env, NULL, "flockTry: mode must be 'sh', 'ex' or 'un'");
    return NULL;
  }
  int rc;
  do rc = flock(fd, op);
  while (rc != 0 && errno == EINTR);
  NAPI_OK(napi_create_int32(env, rc == 0 ? 0 : errno, &v));
  return v;
}

static napi_value is_root(napi_env env, napi_callback_info info) { return boolean(env, lc_euid == 0); }

// trimHeap() -> boolean: what the threads' arenas hold free goes back to
// the system (glibc's malloc_trim); false where there is nothing to give
// or no glibc.
static napi_value trim_heap(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  return boolean(env, malloc_trim(0) != 0);
#else
  return boolean(env, 0);
#endif
}

// setModes(root, rels[], modes: Uint32Array) -> failure | null: each
// directory rel beneath root gets its mode, through an O_PATH fd (a 0000
// directory cannot be opened to read); one no longer there, or no longer
// a directory, is passed over.
static napi_value set_modes_js(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  uint32_t n = 0;
  size_t nmodes = 0;
  void *data = NULL;
  napi_typedarray_type type;
  if (!NAPI_OK(napi_get_typedarray_info(env, argv[2], &type, &nmodes, &data, NULL, NULL))) return NULL;
  char **rels = get_rels(env, argv[1], &n);
  if (!rels) return NULL;
  failure f = {0};
  int owned = 0, rc = 0;
  int root = get_root(env, argv[0], &owned, SIDE_ROOTFS, &f);
  if (root < 0 || type != napi_uint32_array || nmodes < n) {
    if (root >= 0) fail_errno(&f, EINVAL, "setModes", SIDE_ROOTFS, NULL);
    rc = -1;
  }
  for (uint32_t i = 0; i < n && rc == 0; i++) {
    int p = open_beneath(root, rels[i], O_PATH | O_DIRECTORY);
    if (p < 0 && (errno == ENOENT || errno == ENOTDIR)) continue;
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p);
    if (p < 0 || chmod(path, ((const uint32_t *)data)[i] & 07777) != 0) {
      fail_errno(&f, errno, "chmod", SIDE_ROOTFS, rels[i]);
      f.owned = strdup(rels[i]);
      f.rel = f.owned;
      rc = -1;
    }
    if (p >= 0) close(p);
  }
  napi_value result = null_or_failure(env, rc, &f);
  close_owned(root, owned);
  free_rels(rels, n);
  return result;
}

// relockDirs(root) -> failure | null: every directory of the layer root
// that a listing unlocked gets its mode back (native/unlock.h).
static napi_value relock_dirs_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t root = -1;
  if (!get_args(env, info, 1, argv) || !NAPI_OK(napi_get_value_int32(env, argv[0], &root))) return NULL;
  failure f = {0};
  return null_or_failure(env, relock_dirs(root, &f), &f);
}

// metaMode(policy, mode) -> the mode the policy gives an entry of that
// source mode (the rootfs root, set at the commit: meta_mode).
static napi_value meta_mode_js(napi_env env, napi_callback_info info) {
  napi_value argv[2], v = NULL;
  uint32_t mode = 0;
  meta_policy policy;
  if (!get_args(env, info, 2, argv) || !get_policy(env, argv[0], &policy) || !NAPI_OK(napi_get_value_uint32(env, argv[1], &mode))) return NULL;
  NAPI_OK(napi_create_uint32(env, (uint32_t)meta_mode(&policy, (mode_t)mode), &v));
  return v;
}
static napi_value has_openat2(napi_env env, napi_callback_info info) { return boolean(env, lc_have_openat2()); }

// tarHashes(): whether tarOpen takes TAR_HASH here (native/sha256.h).
static napi_value tar_hashes(napi_env env, napi_callback_info info) { return boolean(env, sha256_available()); }

// sha256(data) -> "sha256:<hex>" | null: a small blob's digest (an index, a
// manifest, a config) without loading node:crypto; null where OpenSSL's
// symbols are not there (the caller hashes in JavaScript).
static napi_value sha256_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], result = NULL;
  void *data = NULL;
  size_t len = 0;
  if (!get_args(env, info, 1, argv) || !NAPI_OK(napi_get_buffer_info(env, argv[0], &data, &len))) return NULL;
  sha256_ctx *c = sha256_new();
  char out[72];
  int ok = c && (sha256_update(c, data, len), sha256_final(c, out) == 0);
  sha256_free(c);
  if (!ok)
    NAPI_OK(napi_get_null(env, &result));
  else
    NAPI_OK(napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &result));
  return result;
}

// ---- a blob's sha256 on a thread of its own (native/hashpipe.h) ------------

static void hash_finalize(napi_env env, void *data, void *hint) {
  hash_pipe_close(*(hash_pipe **)data);
  free(data);
}

// The hash behind a handle; NULL (after throwing) when it is closed.
static hash_pipe *hash_handle(napi_env env, napi_value v) {
  void *p = NULL;
  if (!NAPI_OK(napi_get_value_external(env, v, &p))) return NULL;
  hash_pipe *h = *(hash_pipe **)p;
  if (!h) throw_errno(env, EBADF, "sha256", NULL);
  return h;
}

// hashOpen() -> handle | null: null where sha256 is not available here (JS hashes).
static napi_value hash_open_js(napi_env env, napi_callback_info info) {
  napi_value result = NULL;
  hash_pipe **h = malloc(sizeof *h);
  if (!h) return throw_errno(env, ENOMEM, "malloc", NULL);
  if (!(*h = hash_pipe_open())) {
    free(h);
    NAPI_OK(napi_get_null(env, &result));
    return result;
  }
  if (!NAPI_OK(napi_create_external(env, h, hash_finalize, NULL, &result))) {
    hash_pipe_close(*h);
    free(h);
    return NULL;
  }
  return result;
}

// hashFeed(handle, chunk): a copy of chunk is hashed on the thread; throws (ENOMEM, or after hashDigest).
static napi_value hash_feed_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  hash_pipe *h = hash_handle(env, argv[0]);
  void *data = NULL;
  size_t len = 0;
  if (!h || !NAPI_OK(napi_get_buffer_info(env, argv[1], &data, &len))) return NULL;
  failure f = {0};
  if (hash_pipe_feed(h, data, len, &f) != 0) {
    napi_value e = throw_errno(env, f.err, f.syscall, NULL);
    failure_clear(&f);
    return e;
  }
  return NULL;
}

// hashClose(handle): ends the thread and frees the hash (a blob given up
// before its digest); later calls on the handle throw EBADF.
static napi_value hash_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p = NULL;
  if (!get_args(env, info, 1, argv) || !NAPI_OK(napi_get_value_external(env, argv[0], &p))) return NULL;
  hash_pipe_close(*(hash_pipe **)p);
  *(hash_pipe **)p = NULL;
  return NULL;
}

// hashDigest(handle) -> "sha256:<hex>" of every byte fed; the thread ends.
static napi_value hash_digest_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], result = NULL;
  if (!get_args(env, info, 1, argv)) return NULL;
  hash_pipe *h = hash_handle(env, argv[0]);
  if (!h) return NULL;
  failure f = {0};
  char out[72];
  if (hash_pipe_digest(h, out, &f) != 0) {
    napi_value e = throw_errno(env, f.err, f.syscall, NULL);
    failure_clear(&f);
    return e;
  }
  NAPI_OK(napi_create_string_latin1(env, out, NAPI_AUTO_LENGTH, &result));
  return result;
}

// shutdown(): stops every native loop of the process at its next check.
// ---- a job on a thread of its own, settled on the JS thread ---------------

// The gzip pump and the plain-HTTP receiver each run on a pthread of their
// own (not libuv's pool: they last as long as a layer), and resolve their
// promise on the JS thread through a threadsafe function. The job's struct
// holds this one first.
typedef struct job_thread job_thread;
struct job_thread {
  napi_ref refs[5];  // the JS values the job points into, kept alive while it runs
  napi_deferred deferred;
  napi_threadsafe_function done;
  pthread_t thread;
  int joined;
  int *stop;                                     // set when the environment ends: the job stops at its next check
  void (*run)(job_thread *);                     // on the thread
  napi_value (*result)(napi_env, job_thread *);  // on the JS thread: what the promise resolves with
  void (*release)(job_thread *);                 // frees the job
};

// The environment ends (a worker terminated) while the job runs: it stops
// at its next check and is waited for here, before what it uses is freed
// with its handles.
static void job_cleanup(void *arg) {
  job_thread *t = arg;
  __atomic_store_n(t->stop, 1, __ATOMIC_RELAXED);
  pthread_join(t->thread, NULL);
  t->joined = 1;
}

static void job_free(napi_env env, job_thread *t) {
  for (size_t i = 0; i < sizeof t->refs / sizeof t->refs[0]; i++)
    if (t->refs[i] && env) napi_delete_reference(env, t->refs[i]);
  t->release(t);
}

static void job_done_js(napi_env env, napi_value cb, void *context, void *data) {
  job_thread *t = data;
  if (!t->joined) pthread_join(t->thread, NULL);
  t->joined = 1;
  if (env) {
    napi_remove_env_cleanup_hook(env, job_cleanup, t);
    napi_value result = t->result(env, t);
    if (result) napi_resolve_deferred(env, t->deferred, result);
  }
  job_free(env, t);
}

static void *job_main(void *arg) {
  job_thread *t = arg;
  t->run(t);
  napi_call_threadsafe_function(t->done, t, napi_tsfn_blocking);
  napi_release_threadsafe_function(t->done, napi_tsfn_release);
  return NULL;
}

// Starts the job: references to keep[] (NULL entries skipped), its promise,
// its thread. NULL after throwing, the job freed (the promise, if made, is
// left unsettled: the caller sees the exception).
static napi_value job_start(napi_env env, job_thread *t, const char *name, const char *thread_name, napi_value *keep, size_t nkeep) {
  napi_value promise = NULL, resource = NULL;
  int ok = nkeep <= sizeof t->refs / sizeof t->refs[0];
  for (size_t i = 0; ok && i < nkeep; i++) ok = !keep[i] || NAPI_OK(napi_create_reference(env, keep[i], 1, &t->refs[i]));
  ok = ok && NAPI_OK(napi_create_promise(env, &t->deferred, &promise)) && NAPI_OK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource)) &&
       NAPI_OK(napi_create_threadsafe_function(env, NULL, NULL, resource, 0, 1, NULL, NULL, NULL, job_done_js, &t->done));
  if (!ok) {
    job_free(env, t);
    return NULL;
  }
  int err = pthread_create(&t->thread, NULL, job_main, t);
  if (err != 0) {
    napi_release_threadsafe_function(t->done, napi_tsfn_abort);
    napi_value e = throw_errno(env, err, "pthread_create", NULL);
    job_free(env, t);
    return e;
  }
  pthread_setname_np(t->thread, thread_name);
  if (!NAPI_OK(napi_add_env_cleanup_hook(env, job_cleanup, t))) return NULL;
  return promise;
}

// ---- a gzip layer pumped on a thread of its own (native/pump.h) ------------

typedef struct {
  job_thread t;
  pump_job j;
  int unavailable;  // ISA-L could not be loaded: nothing was read
} pump_call;

static void pump_run_job(job_thread *t) {
  pump_call *c = (pump_call *)t;
  c->unavailable = pump_run(&c->j) != 0;
}

// The promise settles with { status, read, message?, failure? } (status -1: no ISA-L).
static napi_value pump_result(napi_env env, job_thread *t) {
  pump_call *c = (pump_call *)t;
  builder b = b_new(env);
  b_num(&b, "status", c->unavailable ? -1 : c->j.status);
  b_num(&b, "read", (double)c->j.read);
  if (c->j.status == PUMP_FALLBACK || c->j.status == PUMP_DATA) b_str(&b, "message", c->j.message);
  if (c->j.status == PUMP_DATA && c->j.inflater) b_str(&b, "code", "ERR_ISAL");
  if (c->j.status == PUMP_TAR || c->j.status == PUMP_READ) b_val(&b, "failure", failure_value(env, &c->j.f));
  return b_done(&b);
}

static void pump_release(job_thread *t) {
  pump_call *c = (pump_call *)t;
  failure_clear(&c->j.f);
  free(c);
}

// tarPump(reader, fd, start, length, hash?, cancel?, progress?, slot?, follow?) ->
// Promise: the blob in fd (borrowed) from `start`, `length` bytes (-1: to
// its end), read, hashed into `hash` (hashOpen; null: none) and inflated
// into the reader (tarOpen with TAR_PIPE, nothing else fed to it meanwhile)
// on a thread of its own; the bytes read so far stored in progress[slot]
// (a BigInt64Array); follow: a download's progress (src/images/follow.ts),
// the blob read as far as it is written. Settles as pump_done_js says; the reader is still to
// be finished (tarFinish) or closed.
static napi_value tar_pump_js(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, argv)) return NULL;
  tar_reader **h = tar_handle(env, argv[0]);
  if (!h) return NULL;
  if (!*h || !tar_piped(*h)) {
    napi_throw_error(env, NULL, "tarPump: the reader is closed or has no thread of its own");
    return NULL;
  }
  int32_t fd = -1;
  double start = 0, length = -1;
  if (!NAPI_OK(napi_get_value_int32(env, argv[1], &fd)) || !NAPI_OK(napi_get_value_double(env, argv[2], &start)) ||
      !NAPI_OK(napi_get_value_double(env, argv[3], &length)))
    return NULL;
  napi_valuetype t;
  hash_pipe *hash = NULL;
  if (!NAPI_OK(napi_typeof(env, argv[4], &t))) return NULL;
  if (t == napi_external && !(hash = hash_handle(env, argv[4]))) return NULL;
  int64_t *progress = NULL, *follow = NULL;
  size_t progress_len = 0, follow_len = 0;
  uint32_t slot = 0;
  if (!get_bigints(env, argv[6], &progress, &progress_len) || !get_bigints(env, argv[8], &follow, &follow_len)) return NULL;
  if (progress) {
    if (!NAPI_OK(napi_get_value_uint32(env, argv[7], &slot))) return NULL;
    if (slot >= progress_len) {
      napi_throw_range_error(env, NULL, "tarPump: progress must be a BigInt64Array holding the slot");
      return NULL;
    }
    progress += slot;
  }
  if (follow && follow_len < 2) {
    napi_throw_range_error(env, NULL, "tarPump: follow must be a BigInt64Array of two (followProgress)");
    return NULL;
  }
  pump_call *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, ENOMEM, "malloc", NULL);
  c->j = (pump_job){.follow = follow,
                    .tar = *h,
                    .fd = fd,
                    .start = start < 0 ? 0 : (uint64_t)start,
                    .length = length < 0 ? -1 : (int64_t)length,
                    .hash = hash,
                    .cancel = get_cancel(env, argv[5]),
                    .progress = progress};
  c->t = (job_thread){.stop = &c->j.stop, .run = pump_run_job, .result = pump_result, .release = pump_release};
  napi_value keep[] = {argv[0], hash ? argv[4] : NULL, c->j.cancel ? argv[5] : NULL, progress ? argv[6] : NULL, follow ? argv[8] : NULL};
  return job_start(env, &c->t, "layercopy:tarPump", "layercopy-pump", keep, 5);
}

// ---- a blob's body received on a thread of its own (native/receive.h) -----

typedef struct {
  job_thread t;
  receive_job j;
} receive_call;

static void receive_run_job(job_thread *t) { receive_run(&((receive_call *)t)->j); }

static napi_value receive_result(napi_env env, job_thread *t) {
  receive_call *c = (receive_call *)t;
  builder b = b_new(env);
  b_num(&b, "received", (double)c->j.received);
  b_bool(&b, "spliced", c->j.spliced);
  if (c->j.err) {
    b_num(&b, "errno", c->j.err);
    b_str(&b, "syscall", c->j.syscall);
  }
  return b_done(&b);
}

static void receive_release(job_thread *t) {
  receive_call *c = (receive_call *)t;
  free(c->j.head);
  if (c->j.sock >= 0) close(c->j.sock);
  if (c->j.out >= 0) close(c->j.out);
  free(c);
}

// receiveInto(sock, out, position, length, head, progress?, cancel?, idleMs, splice)
// -> Promise<{ received, spliced, errno?, syscall? }>: `length` bytes written into
// the file fd at `position`: first `head` (a Buffer of the body's first
// bytes, or null), then what is read from the socket fd, on a thread of
// its own; both fds are dup'ed here, at once (the caller may close its own
// right after: a number it frees is never read from), progress[0] (a
// BigInt64Array) the bytes on file as each write ends.
static napi_value receive_into_js(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!get_args(env, info, 9, argv)) return NULL;
  int32_t sock = -1, out = -1, idle = 0;
  bool splice = false;
  double position = 0, length = 0;
  if (!NAPI_OK(napi_get_value_int32(env, argv[0], &sock)) || !NAPI_OK(napi_get_value_int32(env, argv[1], &out)) ||
      !NAPI_OK(napi_get_value_double(env, argv[2], &position)) || !NAPI_OK(napi_get_value_double(env, argv[3], &length)) ||
      !NAPI_OK(napi_get_value_int32(env, argv[7], &idle)) || !NAPI_OK(napi_get_value_bool(env, argv[8], &splice)))
    return NULL;
  void *head = NULL;
  size_t head_len = 0;
  bool is_buffer = false;
  if (!NAPI_OK(napi_is_buffer(env, argv[4], &is_buffer)) || (is_buffer && !NAPI_OK(napi_get_buffer_info(env, argv[4], &head, &head_len)))) return NULL;
  int64_t *progress = NULL;
  size_t progress_len = 0;
  if (!get_bigints(env, argv[5], &progress, &progress_len)) return NULL;
  receive_call *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, ENOMEM, "malloc", NULL);
  c->j = (receive_job){.sock = -1,
                       .out = -1,
                       .position = position < 0 ? 0 : (uint64_t)position,
                       .length = length < 0 ? 0 : (uint64_t)length,
                       .cancel = get_cancel(env, argv[6]),
                       .progress = progress_len > 0 ? progress : NULL,
                       .idle_ms = idle > 0 ? idle : 300000,
                       .splice = splice};
  c->t = (job_thread){.stop = &c->j.stop, .run = receive_run_job, .result = receive_result, .release = receive_release};
  if (head_len > 0) {
    if (!(c->j.head = malloc(head_len))) {
      receive_release(&c->t);
      return throw_errno(env, ENOMEM, "malloc", NULL);
    }
    memcpy(c->j.head, head, head_len);
    c->j.head_len = head_len;
  }
  if ((c->j.sock = fcntl(sock, F_DUPFD_CLOEXEC, 3)) < 0 || (c->j.out = fcntl(out, F_DUPFD_CLOEXEC, 3)) < 0) {
    napi_value e = throw_errno(env, errno, "dup", NULL);
    receive_release(&c->t);
    return e;
  }
  napi_value keep[] = {c->j.cancel ? argv[6] : NULL, c->j.progress ? argv[5] : NULL};
  return job_start(env, &c->t, "layercopy:receive", "layercopy-recv", keep, 2);
}

static napi_value shutdown_js(napi_env env, napi_callback_info info) {
  lc_shutdown();
  return NULL;
}

// whiteoutKind(name) -> 'none' | 'aufs' | 'opaque' | 'hides' | 'nothing':
// native/whiteout.h's one rule, for the planner (src/strategies/whiteouts.ts).
static napi_value whiteout_kind_js(napi_env env, napi_callback_info info) {
  napi_value argv[1], result = NULL;
  char name[NAME_MAX + 2];
  size_t len = 0;
  if (!get_args(env, info, 1, argv) || !NAPI_OK(napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len))) return NULL;
  static const char *const kinds[] = {"none", "aufs", "opaque", "hides", "nothing"};
  NAPI_OK(napi_create_string_utf8(env, kinds[wh_name(name, len)], NAPI_AUTO_LENGTH, &result));
  return result;
}

NAPI_MODULE_INIT() {
  lc_init_process();
  napi_property_descriptor props[] = {
      {"copyEntries", NULL, copy_entries, NULL, NULL, NULL, napi_default, NULL},
      {"copyEntriesLater", NULL, copy_entries_later, NULL, NULL, NULL, napi_default, NULL},
      {"dirMeta", NULL, dir_meta_entries, NULL, NULL, NULL, napi_default, NULL},
      {"linkEntries", NULL, link_entries, NULL, NULL, NULL, napi_default, NULL},
      {"listDir", NULL, list_dir_js, NULL, NULL, NULL, napi_default, NULL},
      {"mergeDir", NULL, merge_dir_js, NULL, NULL, NULL, napi_default, NULL},
      {"makeDir", NULL, make_dir, NULL, NULL, NULL, napi_default, NULL},
      {"makeDirs", NULL, make_dirs, NULL, NULL, NULL, napi_default, NULL},
      {"openDir", NULL, open_dir, NULL, NULL, NULL, napi_default, NULL},
      {"removeEntry", NULL, remove_entry, NULL, NULL, NULL, napi_default, NULL},
      {"removeEntriesLater", NULL, remove_entries_later, NULL, NULL, NULL, napi_default, NULL},
      {"receiveInto", NULL, receive_into_js, NULL, NULL, NULL, napi_default, NULL},
      {"renameNoReplace", NULL, rename_noreplace, NULL, NULL, NULL, napi_default, NULL},
      {"isRoot", NULL, is_root, NULL, NULL, NULL, napi_default, NULL},
      {"trimHeap", NULL, trim_heap, NULL, NULL, NULL, napi_default, NULL},
      {"metaMode", NULL, meta_mode_js, NULL, NULL, NULL, napi_default, NULL},
      {"relockDirs", NULL, relock_dirs_js, NULL, NULL, NULL, napi_default, NULL},
      {"setModes", NULL, set_modes_js, NULL, NULL, NULL, napi_default, NULL},
      {"hasOpenat2", NULL, has_openat2, NULL, NULL, NULL, napi_default, NULL},
      {"tarHashes", NULL, tar_hashes, NULL, NULL, NULL, napi_default, NULL},
      {"sha256", NULL, sha256_js, NULL, NULL, NULL, napi_default, NULL},
      {"hashOpen", NULL, hash_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"hashFeed", NULL, hash_feed_js, NULL, NULL, NULL, napi_default, NULL},
      {"hashDigest", NULL, hash_digest_js, NULL, NULL, NULL, napi_default, NULL},
      {"hashClose", NULL, hash_close_js, NULL, NULL, NULL, napi_default, NULL},
      {"shutdown", NULL, shutdown_js, NULL, NULL, NULL, napi_default, NULL},
      {"claimsOpen", NULL, claims_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"claimsClose", NULL, claims_close_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarOpen", NULL, tar_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarFeed", NULL, tar_feed_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarFinish", NULL, tar_finish_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarSettle", NULL, tar_settle_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarPump", NULL, tar_pump_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarClose", NULL, tar_close_js, NULL, NULL, NULL, napi_default, NULL},
      {"tarMembers", NULL, tar_members_js, NULL, NULL, NULL, napi_default, NULL},
      {"zstdOpen", NULL, zstd_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"zstdFeed", NULL, zstd_feed_js, NULL, NULL, NULL, napi_default, NULL},
      {"isalOpen", NULL, isal_open_js, NULL, NULL, NULL, napi_default, NULL},
      {"isalFeed", NULL, isal_feed_js, NULL, NULL, NULL, napi_default, NULL},
      {"isalFeedAsync", NULL, isal_feed_async_js, NULL, NULL, NULL, napi_default, NULL},
      {"whiteoutKind", NULL, whiteout_kind_js, NULL, NULL, NULL, napi_default, NULL},
      {"flock", NULL, flock_js, NULL, NULL, NULL, napi_default, NULL},
      {"flockTry", NULL, flock_try_js, NULL, NULL, NULL, napi_default, NULL},
  };
  if (!NAPI_OK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props))) return NULL;
  // What both sides must agree on, defined once here (copy.h, list.h).
  builder c = b_new(env);
  b_num(&c, "largeFile", (double)LARGE_FILE);
  b_str(&c, "whiteoutPrefix", WHITEOUT_PREFIX);
  b_str(&c, "entryTypes", ENTRY_TYPES);
  napi_value constants = b_done(&c);
  if (!constants || !NAPI_OK(napi_set_named_property(env, exports, "constants", constants))) return NULL;
  return exports;
}
