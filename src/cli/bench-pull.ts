// `layercopy bench docker://…`: the baselines of a pull are what a user
// runs instead — `skopeo copy` into an OCI layout, then `layercopy
// provision oci:` of it, or `umoci unpack` of it — and the download floor:
// every blob fetched and sha256-hashed at once by native programs (curl,
// openssl), nothing decompressed or written. layercopy itself is also
// timed on the image copied once, untimed, into an OCI layout (the same
// image provisioned from local files).
import fs from 'node:fs';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { extraCaCerts, startupCaCerts } from '../core/command-env.js';
import { cliCommand } from '../core/compiled.js';
import type { Platform } from '../core/options.js';
import { hostPlatform } from '../images/oci.js';
import { type PullOptions, resolveDocker } from '../registry/pull.js';
import { proxyFor } from '../registry/tunnel.js';
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
  /** Whether curl and openssl are on PATH (the download floor). */
  floorTools: boolean;
  /** oci:DIR:bench: the image copied once into the scratch directory (set by the bench, untimed). */
  layout?: string;
}

/**
 * The registry flags of a docker:// bench, for layercopy and for skopeo.
 * skopeo runs with --insecure-policy: layercopy checks no signatures, so
 * neither does its baseline (and no machine's policy.json is needed).
 */
export function pullBench(arg: string, values: CliValues, platform: Platform | undefined, tools: { umoci: boolean; floor: boolean }): PullBench {
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
  return { arg, layercopyArgs, skopeoArgs, floor: { platform, pull }, umoci: tools.umoci, floorTools: tools.floor };
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
 * The whole process a skopeo baseline runs, writing into rootfs and its
 * layout, rootfs.oci/: skopeo then the unpacker, as one script.
 */
export function pullBaselineArgv(method: Exclude<PullMethod, 'download-floor'>, pull: PullBench, rootfs: string): string[] {
  const layout = `${rootfs}.oci`;
  // Not root: umoci cannot chown, and says to unpack --rootless.
  const unpack =
    method === 'skopeo-then-umoci'
      ? `umoci unpack ${process.getuid?.() === 0 ? '' : '--rootless '}--image "$layout:bench" "$out"`
      : '"$cli" provision -q "oci:$layout:bench" "$out"';
  const script = `set -e; cli=$1 layout=$2 out=$3; shift 3; "$@"; ${unpack}`;
  return ['sh', '-c', script, 'sh', cliCommand().file, layout, rootfs, ...skopeoCopy(pull, layout)];
}

// Every blob at once: curl's body into openssl's sha256, the digest compared;
// a failure names the blob (curl's own exit status where it failed: without
// pipefail the pipeline's is openssl's). Arguments: triples of a curl
// config, the URL and the hex digest. -q first: no ~/.curlrc.
const FLOOR_SCRIPT = `pids=
while [ $# -gt 2 ]; do
  (
    got=$( { curl -q -K "$1" "$2" || echo $? >"$1.failed"; } | openssl dgst -sha256 -r)
    if [ -e "$1.failed" ]; then echo "download floor: $2: curl exited $(cat "$1.failed")" >&2; exit 1; fi
    [ "\${got%% *}" = "$3" ] && exit 0
    echo "download floor: $2: sha256:\${got%% *}, expected sha256:$3" >&2
    exit 1
  ) &
  pids="$pids $!"
  shift 3
done
status=0
for pid in $pids; do wait "$pid" || status=1; done
exit $status`;

/**
 * The download floor's whole process: one shell running curl into openssl
 * for every blob of the image at once — native programs at their own speed
 * (Node's client hashing on its one thread took 0.98-1.33 s where these
 * take 0.63-0.74 s: Debian in 4 layers, 297 MB of gzip, on loopback).
 * The image is resolved first, untimed, through layercopy's registry client
 * (credentials, mirrors, certs.d, proxies, the platform), made again before
 * each run as a token may expire between runs; what curl needs to send each
 * blob's request as the client would goes into `dir` (a config per blob,
 * 0600: the Authorization header, kept out of argv; the proxy the client
 * would take; the CA and client files).
 */
export async function downloadFloorArgv(pull: PullBench, dir: string, signal?: AbortSignal): Promise<string[]> {
  const resolved = await resolveDocker(pull.arg, 0, pull.floor.platform ?? hostPlatform(), { ...pull.floor.pull, signal });
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    const file = (name: string, text: string) => {
      fs.writeFileSync(path.join(dir, name), text, { mode: 0o600 });
      return path.join(dir, name);
    };
    const args: string[] = [];
    for (const [i, layer] of resolved.layers.entries()) {
      const { url, authorization, tls } = await layer.prepared();
      // As the client retries: 429 and 5xx, a reset connection, up to 5 times in 60 s.
      const lines = ['silent', 'show-error', 'fail', 'location', 'retry = 5', 'retry-max-time = 60'];
      if (authorization) lines.push(`header = ${quoted(`Authorization: ${authorization}`)}`);
      const proxy = proxyFor(new URL(url).host, url.startsWith('http:'));
      lines.push(proxy ? `proxy = ${quoted(proxy)}` : 'noproxy = "*"');
      if (!tls.verify) lines.push('insecure');
      // The roots the client trusts with the extra CAs (--cacert takes the place of curl's default bundle).
      const extra = [extraCaCerts() ?? startupCaCerts(), ...(tls.ca ?? [])].filter((pem) => pem !== undefined);
      if (extra.length > 0) lines.push(`cacert = ${quoted(file(`ca.${i}.pem`, [...rootCertificates, ...extra].join('\n')))}`);
      if (tls.cert !== undefined && tls.key !== undefined) {
        lines.push(`cert = ${quoted(file(`client.${i}.cert`, tls.cert))}`, `key = ${quoted(file(`client.${i}.key`, tls.key))}`);
      }
      args.push(file(`curlrc.${i}`, `${lines.join('\n')}\n`), url, layer.tar.digest!.slice('sha256:'.length)); // a registry's blob is named by its digest
    }
    return ['sh', '-c', FLOOR_SCRIPT, 'sh', ...args];
  } finally {
    await resolved.close();
  }
}

/** A curl config value, quoted (curl's config escapes: backslash and double quote). */
function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}
