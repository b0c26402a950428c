#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uid_t lc_euid;
gid_t lc_egid;
mode_t lc_umask;

void fail_errno(failure *f, int err, const char *syscall, side_t side, const char *rel) {
  f->err = err;
  f->code = NULL;
  f->syscall = syscall;
  f->side = side;
  f->rel = rel;
}

void fail_code(failure *f, const char *code, const char *syscall, side_t side, const char *rel) {
  f->err = 0;
  f->code = code;
  f->syscall = syscall;
  f->side = side;
  f->rel = rel;
}

void fail_vdetail(failure *f, const char *fmt, va_list ap) {
  char msg[640];
  vsnprintf(msg, sizeof msg, fmt, ap);
  free(f->detail);
  f->detail = strdup(msg);
}

void failure_clear(failure *f) {
  free(f->owned);
  free(f->detail);
  f->owned = NULL;
  f->detail = NULL;
}

// The umask without changing it (umask(2) would race with other threads
// creating files): Linux >= 4.7 shows it in /proc/self/status.
static mode_t read_umask(void) {
  FILE *f = fopen("/proc/self/status", "re");
  unsigned int mask = 022;
  char line[256];
  if (!f) return 022;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "Umask: %o", &mask) == 1) break;
  }
  fclose(f);
  return (mode_t)mask;
}

void lc_init_process(void) {
  lc_euid = geteuid();
  lc_egid = getegid();
  lc_umask = read_umask();
}

// Shared by every thread of the process (the addon is loaded once).
static int lc_exiting;

void lc_shutdown(void) { __atomic_store_n(&lc_exiting, 1, __ATOMIC_RELAXED); }

int lc_cancelled(const int32_t *flag) {
  if (__atomic_load_n(&lc_exiting, __ATOMIC_RELAXED)) return 1;
  return flag != NULL && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}
