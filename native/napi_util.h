// N-API helpers shared by the addon and the test-fixture addon: every
// napi_status is checked; a failed call leaves a pending JS exception and
// the binding returns NULL.
#ifndef LAYERCOPY_NAPI_UTIL_H
#define LAYERCOPY_NAPI_UTIL_H
#include <node_api.h>
#include <stddef.h>

// Throws for a failed status unless an exception is already pending; 1 when ok.
int napi_ok_or_throw(napi_env env, napi_status s);
#define NAPI_OK(call) napi_ok_or_throw(env, (call))

// Arguments: fills argv[0..n) (missing ones are undefined).
int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv);
// A string as UTF-8 / as latin1 bytes (names are bytes: src/paths.ts). malloc'd, NULL after throwing.
char *get_utf8(napi_env env, napi_value v);
char *get_bytes(napi_env env, napi_value v);
int get_bool(napi_env env, napi_value v, int *out);
// Throws "SYSCALL PATH: strerror" with .errno; returns NULL.
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path);

#endif
