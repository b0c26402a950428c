// `layercopy bench docker://…`: the baselines of a pull are what a user
// runs instead — `skopeo copy` into an OCI layout, then `layercopy
// provision oci:` of it, or `umoci unpack` of it — and the download floor:
// every blob fetched and sha256-hashed at once, through layercopy's own
// registry client, nothing decompressed or written. layercopy itself is
// also timed on the image copied once, untimed, into an OCI layout (the
// same image provisioned from local files).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliCommand, distFile } from '../core/compiled.js';
import type { Platform } from '../core/options.js';
import type { PullOptions } from '../registry/pull.js';
import type { CliValues } from './args.js';
import { runInGroup } from './bench-group.js';

export type PullMethod = 'skopeo-then-layercopy' | 'skopeo-then-umoci' | 'download-floor';

export interface PullBench {
  /** The docker:// reference as given. */
  arg: string;
  /** The registry flags as layercopy takes them (--creds, --tls-verify=false, --max-downloads …). */
  layercopyArgs: string[];
  /** The same for skopeo copy's source (--src-creds, --src-tls-verify=false …). */
  skopeoArgs: string[];
  /** What the download floor needs to reach the registry. */
  floor: { platform?: Platform; pull: Omit<PullOptions, 'signal' | 'retry'> };
  /** Whether umoci is on PATH. */
  umoci: boolean;
  /** oci:DIR:bench: the image copied once into the scratch directory (set by the bench, untimed). */
  layout?: string;
}

/** The download floor's script (bundled into dist/src). */
const FLOOR = fileURLToPath(distFile('src/bench-pull-floor.js'));

/**
 * The registry flags of a docker:// bench, for layercopy and for skopeo.
 * skopeo runs with --insecure-policy: layercopy checks no signatures, so
 * neither does its baseline (and no machine's policy.json is needed).
 */
export function pullBench(arg: string, values: CliValues, platform: Platform | undefined, umoci: boolean): PullBench {
  const layercopyArgs: string[] = [];
  const skopeoArgs: string[] = [];
  for (const flag of ['creds', 'authfile', 'cert-dir'] as const) {
    const v = values[flag];
    if (v === undefined) continue;
    layercopyArgs.push(`--${flag}`, v);
    skopeoArgs.push(`--src-${flag}`, v);
  }
  const tls = values['tls-verify'];
  if (tls !== undefined) {
    layercopyArgs.push(`--tls-verify=${tls}`);
    skopeoArgs.push(`--src-tls-verify=${tls}`);
  }
  if (values['max-downloads'] !== undefined) layercopyArgs.push('--max-downloads', values['max-downloads']);
  if (platform) {
    layercopyArgs.push('--platform', [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/'));
    skopeoArgs.push('--override-os', platform.os, '--override-arch', platform.architecture, ...(platform.variant ? ['--override-variant', platform.variant] : []));
  }
  const pull = {
    ...(values.creds !== undefined ? { creds: values.creds } : {}),
    ...(values.authfile !== undefined ? { authfile: values.authfile } : {}),
    ...(values['cert-dir'] !== undefined ? { certDir: values['cert-dir'] } : {}),
    ...(tls !== undefined ? { tlsVerify: tls === 'true' } : {}),
  };
  return { arg, layercopyArgs, skopeoArgs, floor: { platform, pull }, umoci };
}

/** skopeo copy of the image into the OCI layout DIR, tagged bench. */
function skopeoCopy(pull: PullBench, dir: string): string[] {
  return ['skopeo', '--insecure-policy', 'copy', '--quiet', ...pull.skopeoArgs, pull.arg, `oci:${dir}:bench`];
}

/**
 * Copies the image once into scratch/layout (untimed), for layercopy's
 * rows on local files; returns oci:DIR:bench.
 */
export async function copyLayout(pull: PullBench, scratch: string, signal?: AbortSignal): Promise<string> {
  const dir = path.join(scratch, 'layout');
  const argv = skopeoCopy(pull, dir);
  const r = await runInGroup(argv, { signal, reject: false });
  if (r.failed) {
    const why =
      r.code === 'ENOENT'
        ? 'skopeo is not on PATH'
        : String(r.stderr || r.shortMessage)
            .trim()
            .split('\n')
            .pop();
    throw new Error(`bench: skopeo copy ${pull.arg} failed: ${why}`);
  }
  return `oci:${dir}:bench`;
}

/**
 * The whole process a pull baseline runs, writing into rootfs (the skopeo
 * baselines also their layout, rootfs.oci/): skopeo then the unpacker as
 * one script, or the download floor.
 */
export function pullBaselineArgv(method: PullMethod, pull: PullBench, rootfs: string): string[] {
  if (method === 'download-floor') return [process.execPath, FLOOR, JSON.stringify({ arg: pull.arg, ...pull.floor })];
  const layout = `${rootfs}.oci`;
  // Not root: umoci cannot chown, and says to unpack --rootless.
  const unpack =
    method === 'skopeo-then-umoci'
      ? `umoci unpack ${process.getuid?.() === 0 ? '' : '--rootless '}--image "$layout:bench" "$out"`
      : '"$cli" provision -q "oci:$layout:bench" "$out"';
  const script = `set -e; cli=$1 layout=$2 out=$3; shift 3; "$@"; ${unpack}`;
  return ['sh', '-c', script, 'sh', cliCommand().file, layout, rootfs, ...skopeoCopy(pull, layout)];
}
