#!/usr/bin/env bash
# N-API prebuilds shipped in the package (prebuilds/<platform>-<arch>/),
# loaded by node-gyp-build; installs compile only where none fits. Builds
# every target whose toolchain is here (Debian: gcc-aarch64-linux-gnu,
# musl-tools, musl-dev:arm64) and says which it skipped. Run by `npm pack`
# (prepack).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf prebuilds
# npm's own node-gyp (npm puts it on PATH only inside npm scripts).
node_gyp=${npm_config_node_gyp:-$(node -p "require.resolve('node-gyp/bin/node-gyp.js', { paths: [require('path').join(require('path').dirname(process.execPath), '../lib/node_modules/npm')] })")}
built=()
skipped=()
prebuildify() { PREBUILD_NODE_GYP="$node_gyp" node_modules/.bin/prebuildify --napi --strip --tag-libc "$@" >/dev/null 2>&1; }

prebuildify && built+=("linux-x64 glibc")

if command -v aarch64-linux-gnu-gcc >/dev/null; then
  CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-gcc LINK=aarch64-linux-gnu-gcc \
    prebuildify --arch arm64 --strip-bin aarch64-linux-gnu-strip && built+=("linux-arm64 glibc")
else
  skipped+=("linux-arm64 glibc (apt-get install gcc-aarch64-linux-gnu)")
fi

if command -v musl-gcc >/dev/null; then
  # musl-gcc's include path has no kernel headers: lend it linux/ and asm/ only.
  inc=$(mktemp -d)
  ln -s /usr/include/linux "$inc/linux"
  ln -s /usr/include/asm-generic "$inc/asm-generic"
  ln -s "/usr/include/$(gcc -dumpmachine)/asm" "$inc/asm"
  CC="musl-gcc -idirafter $inc" CXX="musl-gcc -idirafter $inc" LINK=musl-gcc \
    prebuildify --libc musl && built+=("linux-x64 musl")
  rm -rf "$inc"
else
  skipped+=("linux-x64 musl (apt-get install musl-tools)")
fi
arm64_musl_specs=/usr/lib/aarch64-linux-musl/musl-gcc.specs
if command -v aarch64-linux-gnu-gcc >/dev/null && [ -f "$arm64_musl_specs" ]; then
  # The arm64 cross gcc with musl's specs (musl-dev:arm64); kernel headers from the cross toolchain's.
  inc=$(mktemp -d)
  for d in linux asm asm-generic; do ln -s "/usr/aarch64-linux-gnu/include/$d" "$inc/$d"; done
  cc="aarch64-linux-gnu-gcc -specs $arm64_musl_specs -idirafter $inc"
  CC="$cc" CXX="$cc" LINK="$cc" \
    prebuildify --arch arm64 --libc musl --strip-bin aarch64-linux-gnu-strip && built+=("linux-arm64 musl")
  rm -rf "$inc"
else
  skipped+=("linux-arm64 musl (dpkg --add-architecture arm64; apt-get install gcc-aarch64-linux-gnu musl-dev:arm64)")
fi

# The prebuilds replaced build/Release with the last cross build: rebuild for this machine.
node "$node_gyp" rebuild --silent >/dev/null 2>&1
echo "prebuilds: ${built[*]/%/;}" >&2
echo "not prebuilt: ${skipped[*]/%/;}" >&2
