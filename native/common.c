#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uid_t lc_euid;
gid_t lc_egid;
mode_t lc_umask;
uint32_t lc_unknown_uid = (uint32_t)-1, lc_unknown_gid = (uint32_t)-1;

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

// The overflow ID of `side` ("uid", "gid") where this namespace's map
// leaves it out, else (uint32_t)-1.
static uint32_t unknown_id(const char *side) {
  char file[64];
  unsigned long overflow = 65534, inside, outside, count;
  snprintf(file, sizeof file, "/proc/sys/kernel/overflow%s", side);
  FILE *f = fopen(file, "re");
  if (f) {
    if (fscanf(f, "%lu", &overflow) != 1) overflow = 65534;
    fclose(f);
  }
  snprintf(file, sizeof file, "/proc/self/%s_map", side);
  if (!(f = fopen(file, "re"))) return (uint32_t)-1;
  int mapped = 0, lines = 0;
  while (fscanf(f, "%lu %lu %lu", &inside, &outside, &count) == 3) {
    lines++;
    if (overflow >= inside && overflow - inside < count) mapped = 1;
  }
  fclose(f);
  return lines > 0 && !mapped ? (uint32_t)overflow : (uint32_t)-1;
}

void lc_init_process(void) {
  lc_euid = geteuid();
  lc_egid = getegid();
  lc_umask = read_umask();
  lc_unknown_uid = unknown_id("uid");
  lc_unknown_gid = unknown_id("gid");
}

// Shared by every thread of the process (the addon is loaded once).
static int lc_exiting;

void lc_shutdown(void) { __atomic_store_n(&lc_exiting, 1, __ATOMIC_RELAXED); }

int lc_cancelled(const int32_t *flag) {
  if (__atomic_load_n(&lc_exiting, __ATOMIC_RELAXED)) return 1;
  return flag != NULL && __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}
