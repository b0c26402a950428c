#!/usr/bin/env bash
# The store's figures (docs/benchmarks.md, "The store"): whole CLI
# processes, each pair of methods run alternately RUNS times, on the
# filesystem of DIR (put it where you provision: tmpfs, XFS…). Prints each
# run's wall time and peak RSS, then the medians and their ratios.
#   warm:  provision --store S IMAGE (S holds IMAGE)  vs  provision of S's extracted layers given as directories
#   cold:  provision --store S IMAGE (S empty)        vs  provision IMAGE (no store)
# usage: scripts/bench-store.sh RUNS DIR IMAGE [registry flags…] (given to pull and provision)
set -euo pipefail
runs=$1 dir=$2 image=$3
shift 3
# The layercopy command, as users run it (src/cli/layercopy.cjs).
cli="$(cd "$(dirname "$0")/.." && pwd)/dist/src/layercopy.cjs"
mkdir -p "$dir"
store="$dir/store" cold="$dir/cold-store" root="$dir/root"
rm -rf "$store" "$cold" "$root"
"$cli" pull --quiet "$@" --store "$store" "$image"
# The image's layers in the store, lowest first (its config's diff_ids).
mapfile -t layers < <(node -e '
  const fs = require("fs"), path = require("path"), s = process.argv[1];
  const ref = JSON.parse(fs.readFileSync(path.join(s, "refs.json"), "utf8")).refs[0];
  const blob = (d) => JSON.parse(fs.readFileSync(path.join(s, "blobs/sha256", d.slice(7)), "utf8"));
  const m = blob(ref.digest);
  for (const d of blob(m.config.digest).rootfs.diff_ids) console.log(path.join(s, "layers/keep", d.slice(7), "rootfs"));
' "$store")

declare -A times rss
run() { # NAME COMMAND...: one timed run, ROOTFS removed after
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$dir/time.txt" "$@" >"$dir/out.json"
  read -r t m <"$dir/time.txt"
  times[$name]+="$t "
  rss[$name]+="$m "
  printf '%-6s %6.2f s %5d MB\n' "$name" "$t" $((m / 1024))
  rm -rf "$root"
}
for i in $(seq "$runs"); do
  run warm "$cli" provision --json "$@" --store "$store" "$image" "$root"
  run dirs "$cli" provision --json "$@" "${layers[@]}" "$root"
done
for i in $(seq "$runs"); do
  rm -rf "$cold"
  run cold "$cli" provision --json "$@" --store "$cold" "$image" "$root"
  run plain "$cli" provision --json "$@" "$image" "$root"
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for n in warm dirs cold plain; do
  printf '%-6s median %s s, peak RSS %d MB\n' "$n" "$(echo "${times[$n]}" | median)" $(($(echo "${rss[$n]}" | tr ' ' '\n' | sort -n | tail -1) / 1024))
done
awk -v w="$(echo "${times[warm]}" | median)" -v d="$(echo "${times[dirs]}" | median)" -v c="$(echo "${times[cold]}" | median)" -v p="$(echo "${times[plain]}" | median)" \
  'BEGIN { printf "warm / dirs %.2f, cold / plain %.2f\n", w / d, c / p }'
rm -rf "$store" "$cold"
