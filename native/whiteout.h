// What a name of a layer that starts with ".wh." is, by the OCI image
// spec's layer rules (and AUFS's own names): one rule, read by the native
// tar reader's direct path (native/tar.c) and, through whiteoutKind, by
// the planner (src/strategies/whiteouts.ts).
#ifndef LAYERCOPY_WHITEOUT_H
#define LAYERCOPY_WHITEOUT_H
#include <stddef.h>

typedef enum {
  WH_NONE,     // not a marker
  WH_AUFS,     // .wh..wh.* but the opaque marker: AUFS metadata (.wh..wh.plnk, .wh..wh.orph), skipped, file or directory
  WH_OPAQUE,   // .wh..wh..opq: the directory it is in hides what lower layers have there
  WH_HIDES,    // .wh.NAME: NAME is hidden
  WH_NOTHING,  // .wh., .wh.., .wh...: names no entry (Mesos deleted the parent, or the rootfs's; containerd refuses them)
} wh_kind;

// The kind of the name's first n bytes (one path component).
wh_kind wh_name(const char *name, size_t n);

#endif
