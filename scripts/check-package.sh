#!/usr/bin/env bash
# The package as a user gets it: packs the tarball (prebuilds included),
# installs it with --ignore-scripts into a fresh project with PATH stripped
# of compilers, and runs the CLI (--help, a real provision) and an ESM
# import against it. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/layercopy-package-XXXXXX)
# The prebuilds npm pack made (prepack) go with it: left in the tree, the
# next npm ci would load them instead of compiling the helper.
root=$PWD
trap 'rm -rf "$work" "$root/prebuilds"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" 2>/dev/null | tail -n 1)
echo "packed $tarball"
tar -tzf "$work/$tarball" > "$work/contents"
fail() { echo "check-package: $*" >&2; exit 1; }
grep -q '^package/LICENSE$' "$work/contents" || fail "no LICENSE in the tarball"
grep -q '^package/prebuilds/linux-x64/layercopy.glibc.node$' "$work/contents" || fail "no linux-x64 prebuild in the tarball"
! grep -q '^package/dist/bench/' "$work/contents" || fail "dist/bench is in the tarball"
! grep -q '\.map$' "$work/contents" || fail "source maps are in the tarball"
# docs/cli.md and the .d.ts comments link to these: they must ship.
for doc in cli errors benchmarks design reliability; do grep -q "^package/docs/$doc.md$" "$work/contents" || fail "docs/$doc.md is not in the tarball"; done

# A PATH with node and npm (and the sh the layercopy command
# runs) only: no cc, gcc, g++, make, python3.
mkdir "$work/bin"
for tool in node npm npx sh env; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
for tool in cc gcc g++ make python3; do
  ! PATH="$work/bin" command -v "$tool" >/dev/null || fail "$tool is reachable"
done
mkdir "$work/app" "$work/layer" "$work/layer/etc"
echo hello > "$work/layer/etc/motd"
cd "$work/app"
echo '{ "name": "app", "version": "1.0.0", "type": "module" }' > package.json
PATH="$work/bin" npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$work/$tarball" >/dev/null
PATH="$work/bin" node_modules/.bin/layercopy --help | grep -q 'layercopy provision' || fail "--help"
PATH="$work/bin" node_modules/.bin/layercopy provision --quiet "$work/layer" "$work/rootfs"
[ "$(cat "$work/rootfs/etc/motd")" = hello ] || fail "the CLI's provision"
PATH="$work/bin" node -e "
  import('layercopy').then(async ({ provision }) => {
    const s = await provision(['$work/layer'], '$work/rootfs2');
    if (s.entries !== 2) throw new Error('ESM import: ' + JSON.stringify(s));
  });"
# The public types as an app of strict settings checks them, library files
# included (skipLibCheck false, TypeScript's default), under each module
# resolution an app for Node uses (scripts/bundle-types.mjs).
cat > app.ts <<'TS'
import { CopyBackend, LayercopyError, type Progress, type ProvisionOptions, type ProvisionSummary, images, provision, pull } from 'layercopy';
const options: ProvisionOptions = { concurrency: 2, onProgress: (p: Progress) => void p.phase, registry: { tlsVerify: false } };
export async function run(): Promise<ProvisionSummary | undefined> {
  const backend = new CopyBackend({ concurrency: 1 });
  try {
    await pull('docker://127.0.0.1:1/x', { store: '/nonexistent' }).catch(() => undefined);
    void (await images({ store: '/nonexistent' }).catch(() => []));
    return await backend.provision(['/l'], '/r', { strategy: 'merged' });
  } catch (error) {
    if (error instanceof LayercopyError) void error.code;
    return provision(['/l'], '/r', options);
  } finally {
    await backend.close();
  }
}
TS
for resolution in node16 nodenext bundler; do
  module=$resolution
  [ "$resolution" = bundler ] && module=esnext
  echo "{\"compilerOptions\":{\"module\":\"$module\",\"moduleResolution\":\"$resolution\",\"target\":\"es2022\",\"strict\":true,\"exactOptionalPropertyTypes\":true,\"skipLibCheck\":false,\"noEmit\":true,\"types\":[\"node\"],\"typeRoots\":[\"$root/node_modules/@types\"]},\"files\":[\"app.ts\"]}" > tsconfig.json
  node "$root/node_modules/typescript/bin/tsc" -p . || fail "the public types under module resolution $resolution"
done
# require(): the ES module itself where Node loads ES modules that way (20.19+), else a clear ERR_REQUIRE_ESM.
if [ "$(node -p 'process.features.require_module === true')" = true ]; then
  PATH="$work/bin" node -e "const m = require('layercopy'); if (typeof m.provision !== 'function') throw new Error('require: ' + Object.keys(m))"
  no_esm_require=--no-experimental-require-module
fi
PATH="$work/bin" node ${no_esm_require:-} -e "try { require('layercopy'); process.exit(1) } catch (e) { if (e.code !== 'ERR_REQUIRE_ESM' || !/is an ES module/.test(e.message)) throw e }"
echo "check-package: ok (installed without scripts or compilers; CLI, provision, ESM import, the public types under node16, nodenext and bundler, require, and its message where Node cannot)"
