#!/usr/bin/env bash
# Sanitizer job: builds a second copy of the native helper with
# -fsanitize=address,undefined (build-asan/) and runs the native-heavy tests
# against it (LAYERCOPY_NATIVE points the loader there). libasan must come
# first in the process, hence LD_PRELOAD; leak checks are off because Node
# itself keeps allocations until exit.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf build-asan
mkdir -p build-asan
cp -r binding.gyp native build-asan/
(cd build-asan && LAYERCOPY_ASAN=1 LAYERCOPY_STRICT=1 node-gyp rebuild --silent)
export LAYERCOPY_NATIVE="$PWD/build-asan/build/Release/layercopy_native.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
npx vitest run test/rootfs/remove.test.ts test/rootfs/staging.test.ts test/strategies/layered-plan.test.ts test/strategies/merged-plan.test.ts test/copy/dispatch.test.ts test/copy/big-files.test.ts \
  test/provision.test.ts test/provision.hardening.test.ts test/provision.faults.test.ts test/rootfs/destroy.test.ts test/provision.deep.test.ts \
  test/provision.rootless.test.ts test/provision.rootless-ns.test.ts test/images/extract.test.ts test/images/extract.format.test.ts test/images/layer.test.ts test/images/inflate.test.ts test/images/decompress.test.ts test/images/oci.test.ts test/images/members.test.ts test/images/archive.test.ts test/provision.images-direct.test.ts test/images/extract.order.test.ts test/images/extract.lanes.test.ts test/images/extract.names.test.ts test/images/extract.pipe.test.ts test/images/extract-all.test.ts test/images/blob.test.ts \
  test/images/extract.clobber.test.ts test/images/extract.random-stacks.test.ts test/registry/receive.test.ts test/core/native.test.ts test/layers.test.ts \
  test/store/lock.test.ts test/store/provision.test.ts
