#!/usr/bin/env bash
# The C code's style (npm run lint): clang-format --dry-run over native/.
# A fresh machine may lack clang-format (Debian: apt-get install clang-format):
# the check is then skipped, saying why, unless LAYERCOPY_STRICT=1 (CI sets
# it, and installs clang-format), where a missing tool is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  if [ "${LAYERCOPY_STRICT:-}" = 1 ]; then
    echo "check-c-format: clang-format is not on PATH (LAYERCOPY_STRICT=1: a failure; apt-get install clang-format)" >&2
    exit 1
  fi
  echo "check-c-format: skipped: clang-format is not on PATH (apt-get install clang-format to check the C code's style)" >&2
  exit 0
fi
exec clang-format --dry-run --Werror native/*.c native/*.h native/fixtures/*.c native/baseline/*.c
