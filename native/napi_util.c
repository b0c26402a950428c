#include "napi_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int napi_ok_or_throw(napi_env env, napi_status s) {
  if (s == napi_ok) return 1;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info *info = NULL;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, "ERR_NATIVE", info && info->error_message ? info->error_message : "N-API call failed");
  }
  return 0;
}

int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  return NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
}

static char *get_str(napi_env env, napi_value v, int latin1) {
  size_t len = 0;
  napi_status s = latin1 ? napi_get_value_string_latin1(env, v, NULL, 0, &len) : napi_get_value_string_utf8(env, v, NULL, 0, &len);
  if (!NAPI_OK(s)) return NULL;
  char *out = malloc(len + 1);
  if (!out) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  s = latin1 ? napi_get_value_string_latin1(env, v, out, len + 1, &len) : napi_get_value_string_utf8(env, v, out, len + 1, &len);
  if (!NAPI_OK(s)) {
    free(out);
    return NULL;
  }
  return out;
}

char *get_utf8(napi_env env, napi_value v) { return get_str(env, v, 0); }
char *get_bytes(napi_env env, napi_value v) { return get_str(env, v, 1); }

int get_bool(napi_env env, napi_value v, int *out) {
  bool b = false;
  if (!NAPI_OK(napi_get_value_bool(env, v, &b))) return 0;
  *out = b;
  return 1;
}

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, path ? path : "", strerror(err));
  napi_value e, m, code;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) == napi_ok && napi_create_error(env, NULL, m, &e) == napi_ok) {
    if (napi_create_int32(env, err, &code) == napi_ok) napi_set_named_property(env, e, "errno", code);
    napi_throw(env, e);
  } else {
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}
