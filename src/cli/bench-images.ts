// `layercopy bench` on images and tarballs: the baselines there are what a
// user would run instead — umoci's unpack, extracting each layer with GNU
// tar and then provisioning the directories — and the floors no extractor
// can pass: decompressing every layer at once, writing nothing; and the
// same checking every digest layercopy checks, the floor of a verified
// extraction.
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { cliCommand, distFile } from '../core/compiled.js';
import { readHead, sniffCompression } from '../images/decompress.js';
import type { TarLayer } from '../images/layer.js';
import { parseLayerArgument } from '../images/reference.js';

/** verified-floor: gzip through zlib; verified-floor-isal: through ISA-L (where libisal.so.2 is). */
export type ImageMethod = 'umoci' | 'extract-then-copy' | 'floor' | 'verified-floor' | 'verified-floor-isal';

/** The floor's script (bundled into dist/src). */
const FLOOR = fileURLToPath(distFile('src/bench-floor.js'));

/** umoci's --image argument for a lone oci:PATH[:REF] LAYER with umoci on PATH, else undefined. */
export function umociImage(args: string[], hasUmoci: boolean): string | undefined {
  if (!hasUmoci || args.length !== 1) return undefined;
  const arg = parseLayerArgument(args[0], 0);
  if (arg.kind !== 'oci' || arg.digest) return undefined;
  return `${arg.layout}:${arg.reference ?? 'latest'}`;
}

/**
 * The environment a baseline runs in: the user's (cliCommand().env), but the
 * Node decompression floor's without NODE_EXTRA_CA_CERTS, which layercopy's
 * command moves aside for itself (it reads no certificates): with it, that
 * floor took 181 against 143 ms, and ran slower than the verified floor that
 * does more.
 */
export function baselineEnv(method: string, env: Record<string, string>): Record<string, string> {
  if (method !== 'floor' || env.NODE_EXTRA_CA_CERTS === undefined) return env;
  const { NODE_EXTRA_CA_CERTS: _, ...rest } = env;
  return rest;
}

/** The image and pull baselines a bench leaves out before it runs, and why: they go in its report (its JSON too), not only on stderr. */
export function umociLeftOut(images: { umoci?: string } | undefined, pull: { umoci: boolean; floorTools: boolean } | undefined): string[] {
  const why: string[] = [];
  const noUmoci = !onPath('umoci');
  if (images && !images.umoci)
    why.push(noUmoci ? 'umoci unpack: umoci is not on PATH' : 'umoci unpack: it unpacks one oci: image named by a tag, not several LAYERs, tarballs, archives or a digest');
  if (pull && !pull.umoci) why.push('skopeo then umoci unpack: umoci is not on PATH');
  if (pull && !pull.floorTools) why.push('the download floor: curl or openssl is not on PATH');
  return why;
}

function tarFlag(layer: TarLayer): string {
  const kind = sniffCompression(readHead(layer.file, layer.start));
  return kind === 'gzip' ? '-z' : kind === 'zstd' ? '--zstd' : '';
}

/**
 * The verified floor's process: the C program where cc built it
 * (native/baseline/verified_floor.c: layers largest first on as many
 * threads as layercopy's pool has), else the same in Node.
 */
function verifiedFloorArgv(inflater: 'zlib' | 'isal', tars: TarLayer[], program?: string): string[] {
  if (!program) return ['env', `LAYERCOPY_INFLATE=${inflater}`, process.execPath, FLOOR, JSON.stringify(tars), 'verify'];
  const dash = (v: string | number | undefined) => (v === undefined ? '-' : String(v));
  const layers = tars.flatMap((t) => [t.file, dash(t.start), dash(t.size), dash(t.digest), dash(t.diffId)]);
  return [program, inflater, String(os.availableParallelism()), ...layers];
}

/** The whole process a baseline runs, writing into rootfs (extract-then-copy also into rootfs.x/); floorProgram: buildVerifiedFloor's. */
export function imageBaselineArgv(method: ImageMethod, tars: TarLayer[], rootfs: string, umoci?: string, floorProgram?: string): string[] {
  // Not root: umoci cannot chown, and says to unpack --rootless (owners then become the user's).
  if (method === 'umoci') return ['umoci', 'unpack', ...(process.getuid?.() === 0 ? [] : ['--rootless']), '--image', umoci!, rootfs];
  if (method === 'floor') return [process.execPath, FLOOR, JSON.stringify(tars)];
  if (method === 'verified-floor' || method === 'verified-floor-isal') return verifiedFloorArgv(method === 'verified-floor' ? 'zlib' : 'isal', tars, floorProgram);
  // GNU tar and gzip/zstd, every layer at once (its best speed on several
  // cores: one after another took 1.5x as long here), then layercopy of the directories.
  const script = [
    'set -e; cli=$1; out=$2; shift 2; mkdir "$out.x"; i=0; dirs=""; pids=""',
    'while [ $# -gt 0 ]; do file=$1 start=$2 size=$3 flag=$4; shift 4; d="$out.x/$i"; mkdir "$d"',
    '  if [ "$size" = - ]; then tar $flag --xattrs --xattrs-include="*" --numeric-owner -p -xf "$file" -C "$d" &',
    '  else tail -c +$((start + 1)) "$file" | head -c "$size" | tar $flag --xattrs --xattrs-include="*" --numeric-owner -p -xf - -C "$d" & fi',
    '  pids="$pids $!"; dirs="$dirs $d"; i=$((i + 1)); done',
    'for p in $pids; do wait "$p"; done',
    '"$cli" provision -q $dirs "$out"',
  ].join('\n');
  const layerArgs = tars.flatMap((t) => [t.file, String(t.start ?? 0), t.start === undefined ? '-' : String(t.size), tarFlag(t)]);
  return ['sh', '-c', script, 'sh', cliCommand().file, rootfs, ...layerArgs];
}

/** Whether a program (umoci, curl …) is on PATH. */
export function onPath(program: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => dir !== '' && fs.existsSync(`${dir}/${program}`));
}
