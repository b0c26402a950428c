// Shared by every unit of the native helper: the one way a failure is
// reported (plain data that crosses to JS), process-wide facts read once,
// and the cancellation check.
#ifndef LAYERCOPY_COMMON_H
#define LAYERCOPY_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

// xattr lists and values: the VFS caps both at 64 KiB.
#define XBUF (64 * 1024 + 1)

// Which tree a failing path lives in; crosses to JS as "layer" / "rootfs".
typedef enum { SIDE_LAYER = 0, SIDE_ROOTFS = 1 } side_t;

// A failure: either an errno (code NULL), or a layercopy condition named by
// code with err 0. rel points at a string that outlives the failure, or at
// owned (freed by failure_clear).
typedef struct {
  int err;
  const char *code;
  const char *syscall;
  side_t side;
  const char *rel;
  char *owned;
  char *detail;  // CODE_INVALID_TAR / CODE_UNSUPPORTED_ENTRY: what is wrong (owned)
  long long id;  // CODE_UNMAPPED_*: the ID outside every range
  long more;     // a removal's failure: how many other entries stayed too
} failure;

// Layercopy conditions (failure.code).
#define CODE_SRC_CHANGED "ESRCCHANGED"              // the layer entry changed type or shrank
#define CODE_CANCELED "ECANCELED"                   // the provision was aborted
#define CODE_MOUNT "EMOUNTPOINT"                    // removal met another filesystem and left it
#define CODE_NO_OPENAT2 "ENOOPENAT2"                // kernel without openat2 (Linux < 5.6)
#define CODE_UNMAPPED_UID "EUNMAPPEDUID"            // an owner outside every uid range of the ID map (failure.id)
#define CODE_UNMAPPED_GID "EUNMAPPEDGID"            // the same for a gid
#define CODE_INVALID_TAR "EINVALIDTAR"              // a tar stream that breaks the format or would climb out (failure.detail)
#define CODE_UNSUPPORTED_ENTRY "EUNSUPPORTEDENTRY"  // a tar entry layercopy does not write (failure.detail)
#define CODE_INVALID_WHITEOUT "EINVALIDWHITEOUT"    // a whiteout marker the plan would refuse, met by a tar read straight into the rootfs (failure.detail)
#define CODE_RESTART "ERESTARTLAYER"                // a tar layer must be read again into a scratch directory (native/tar.h)
#define CODE_RESTART_HIDDEN "ERESTARTHIDDEN"        // a tar layer must be read again without the claims set, writing every file

void fail_errno(failure *f, int err, const char *syscall, side_t side, const char *rel);
void fail_code(failure *f, const char *code, const char *syscall, side_t side, const char *rel);
void failure_clear(failure *f);
// The failure's message (failure.detail), printf-style: the one place a
// detail is formatted and owned (tar.c, tarscan.c and meta.c each had one).
void fail_vdetail(failure *f, const char *fmt, va_list ap);

// Process-wide, read once at load.
extern uid_t lc_euid;
extern gid_t lc_egid;
extern mode_t lc_umask;
// The kernel's overflow IDs (/proc/sys/kernel/overflowuid, overflowgid: what
// stat shows for an owner this user namespace does not map) where this
// namespace maps no ID of that number, else (uint32_t)-1: there, an owner
// of that number is unknown, not nobody (`unshare -U -r`).
extern uint32_t lc_unknown_uid, lc_unknown_gid;
void lc_init_process(void);

// A provision's abort flag: an Int32 in a SharedArrayBuffer the main thread
// sets; NULL when the caller passed none. Native loops check it between
// entries and between chunks of big files, so an abort stops a worker
// within one entry rather than one batch.
int lc_cancelled(const int32_t *flag);
// The process is exiting (a second Ctrl-C): every native loop on every
// thread stops at its next check, so no worker thread keeps the exit
// waiting (Node joins worker threads before it exits).
void lc_shutdown(void);

#endif
