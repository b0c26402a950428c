{
  "target_defaults": {
    "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "conditions": [
      ["'<!(echo $LAYERCOPY_STRICT)'=='1'", {
        "cflags": ["-Werror"]
      }],
      ["'<!(echo $LAYERCOPY_ASAN)'=='1'", {
        "cflags": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined", "-ftrivial-auto-var-init=pattern"],
        "ldflags": ["-fsanitize=address,undefined"]
      }]
    ]
  },
  "targets": [
    {
      "target_name": "layercopy_native",
      "sources": ["native/addon.c", "native/claims.c", "native/common.c", "native/copy.c", "native/hashpipe.c", "native/idmap.c", "native/isal.c", "native/isal_js.c", "native/lanes.c", "native/list.c", "native/merge.c", "native/meta.c", "native/napi_util.c", "native/paths.c", "native/pump.c", "native/receive.c", "native/remove.c", "native/sha256.c", "native/sparse.c", "native/tar.c", "native/tarhdr.c", "native/tarpipe.c", "native/tarscan.c", "native/unlock.c", "native/whiteout.c", "native/write.c", "native/xattr.c", "native/zstd.c"],
      "libraries": ["-ldl", "-lpthread"]
    }
  ]
}
