// N-API bindings of native/isal.c, registered by native/addon.c.
#ifndef LAYERCOPY_ISAL_JS_H
#define LAYERCOPY_ISAL_JS_H
#include <node_api.h>

napi_value isal_open_js(napi_env env, napi_callback_info info);
napi_value isal_feed_js(napi_env env, napi_callback_info info);
napi_value isal_feed_async_js(napi_env env, napi_callback_info info);

#endif
