{
  "targets": [
    {
      "target_name": "layercopy_native",
      "sources": ["native/layercopy.c"],
      "cflags": ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
