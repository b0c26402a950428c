#include "whiteout.h"

#include <string.h>

wh_kind wh_name(const char *name, size_t n) {
  if (n < 4 || memcmp(name, ".wh.", 4) != 0) return WH_NONE;
  if (n == 12 && memcmp(name, ".wh..wh..opq", 12) == 0) return WH_OPAQUE;
  if (n >= 8 && memcmp(name, ".wh..wh.", 8) == 0) return WH_AUFS;
  if (n == 4 || (n == 5 && name[4] == '.') || (n == 6 && name[4] == '.' && name[5] == '.')) return WH_NOTHING;
  return WH_HIDES;
}
