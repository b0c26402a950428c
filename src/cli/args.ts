// Command-line argument helpers shared by the CLI and `layercopy bench`.
import { type IdMap, validateIdMap } from '../core/id-map.js';
import { type BatchSize, credsProblem, MAX_CONCURRENCY, type RegistryOptions, tooManyThreads } from '../core/options.js';
import { DEVICES, type Devices, OWNERS, type Owners, type RootlessOptions } from '../core/rootless.js';

/** The parsed flags of the CLI (provision, destroy and bench share one parser). */
export type CliValues = {
  concurrency?: string;
  'batch-size'?: string;
  strategy?: string;
  platform?: string;
  creds?: string;
  authfile?: string;
  'cert-dir'?: string;
  'tls-verify'?: string;
  'max-downloads'?: string;
  store?: string;
  pull?: string;
  repair?: boolean;
  'uid-map'?: string[];
  'gid-map'?: string[];
  owners?: string;
  devices?: string;
  strict?: boolean;
  runs?: string;
  scratch?: string;
  json?: boolean;
  quiet?: boolean;
};

/** A usage error: one line, exit status 2. */
export class UsageError extends Error {}

/** The codes of an argument's fault, which exit 2 as a usage error does (docs/errors.md); every other code exits 1. */
export const isUsageCode = (code: unknown) => code === 'ERR_INVALID_ARGUMENT' || code === 'ERR_NO_LAYERS' || code === 'ERR_INVALID_OPTION';

const isPositiveInt = (value: string) => /^[1-9][0-9]*$/.test(value) && Number.isSafeInteger(Number(value));

export function positiveInt(flag: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  if (!isPositiveInt(value)) throw new UsageError(`${flag} must be a positive integer (got '${value}')`);
  return Number(value);
}

/** --concurrency: a positive integer within the pool's bound, checked with the flag (a bench had run its baselines before its first layercopy run failed). */
export function concurrencyArg(value: string | undefined): number | undefined {
  const n = positiveInt('--concurrency', value);
  if (n !== undefined && n > MAX_CONCURRENCY) throw new UsageError(tooManyThreads('--concurrency', n));
  return n;
}

/** --batch-size: a positive integer or 'auto'. */
export function batchSizeArg(flag: string, value: string | undefined): BatchSize | undefined {
  if (value === undefined || value === 'auto') return value;
  if (!isPositiveInt(value)) throw new UsageError(`${flag} must be a positive integer or 'auto' (got '${value}')`);
  return Number(value);
}

/** bench's --concurrency LIST, each value as concurrencyArg takes it. */
export function concurrencyList(value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  // Each value once: a value given twice was timed twice, and one of the copies could be named best on noise.
  return [...new Set(value.split(',').map((v) => concurrencyArg(v.trim())!))];
}

/** --uid-map/--gid-map values (C:H:N) as an IdMap, checked as the library checks it, errors naming the flag. */
export function parseIdMap(values: Pick<CliValues, 'uid-map' | 'gid-map'>): IdMap | undefined {
  const map: IdMap = {};
  for (const side of ['uid', 'gid'] as const) {
    const flag = `--${side}-map`;
    const given = values[`${side}-map`];
    if (!given) continue;
    map[side] = given.map((v) => {
      const m = /^(\d+):(\d+):(\d+)$/.exec(v);
      if (!m) throw new UsageError(`${flag} must be CONTAINER:HOST:COUNT, as in /proc/PID/${side}_map (got '${v}')`);
      return { containerID: Number(m[1]), hostID: Number(m[2]), size: Number(m[3]) };
    });
  }
  if (!map.uid && !map.gid) return undefined;
  try {
    validateIdMap(map);
  } catch (error) {
    const message = (error as Error).message.replace(/options\.idMap\.(uid|gid)\[(\d+)\](\.\w+)?/g, (_m, side: 'uid' | 'gid', i: string, key = '') => {
      const what = key ? ` (${key.slice(1)})` : '';
      return `--${side}-map ${values[`${side}-map`]![Number(i)]}${what}`;
    });
    throw new UsageError(message);
  }
  return map;
}

/** --owners, --devices, --strict as the library's options (docs/cli.md, "Rootless"). */
export function rootlessArgs(values: CliValues): RootlessOptions {
  const { owners, devices } = values;
  if (owners !== undefined && !OWNERS.includes(owners as Owners)) throw new UsageError(`--owners must be one of ${OWNERS.join(', ')} (got '${owners}')`);
  if (devices !== undefined && !DEVICES.includes(devices as Devices)) throw new UsageError(`--devices must be one of ${DEVICES.join(', ')} (got '${devices}')`);
  if (owners !== undefined && owners !== 'keep' && (values['uid-map'] || values['gid-map'])) {
    throw new UsageError(`--owners ${owners} cannot be used with --uid-map or --gid-map: an ID map shifts owners that are kept (--owners keep)`);
  }
  return { owners: owners as Owners | undefined, devices: devices as Devices | undefined, strict: values.strict };
}

/** The flags of docker:// pulls (provision, and bench on a docker:// image). */
export const REGISTRY_FLAGS = ['creds', 'authfile', 'cert-dir', 'tls-verify', 'max-downloads'] as const;

// The words Go's strconv.ParseBool reads, which podman and skopeo take after `--tls-verify=`.
const GO_BOOL: Record<string, 'true' | 'false'> = {
  1: 'true',
  t: 'true',
  T: 'true',
  TRUE: 'true',
  True: 'true',
  0: 'false',
  f: 'false',
  F: 'false',
  FALSE: 'false',
  False: 'false',
};

/**
 * `--tls-verify` as podman takes it: `--tls-verify=false` (or any word of
 * Go's ParseBool: `=0`, `=FALSE`, …), `--tls-verify false`, or bare (true).
 * parseArgs takes the next argument as a string option's value, so a bare
 * one gets its 'true' here; the other words become 'true' or 'false'.
 */
export function tlsVerifyValue(argv: string[]): string[] {
  const out: string[] = [];
  argv.forEach((arg, i) => {
    const word = arg.startsWith('--tls-verify=') ? GO_BOOL[arg.slice('--tls-verify='.length)] : undefined;
    out.push(word ? `--tls-verify=${word}` : arg);
    if (arg === '--tls-verify' && !['true', 'false'].includes(argv[i + 1] ?? '')) out.push('true');
  });
  return out;
}

/** --creds, --authfile, --cert-dir, --tls-verify as the library's options.registry. */
export function registryArgs(values: CliValues): RegistryOptions | undefined {
  const tls = values['tls-verify'];
  if (tls !== undefined && tls !== 'true' && tls !== 'false') throw new UsageError(`--tls-verify must be true or false (also 1, 0, t, f, TRUE, FALSE; got '${tls}')`);
  for (const flag of ['creds', 'authfile', 'cert-dir'] as const) {
    if (values[flag] === '') throw new UsageError(`--${flag} must not be empty`);
  }
  const creds = values.creds === undefined ? undefined : credsProblem(values.creds);
  if (creds) throw new UsageError(`--creds: ${creds}`);
  const options: RegistryOptions = {
    ...(values.creds !== undefined ? { creds: values.creds } : {}),
    ...(values.authfile !== undefined ? { authfile: values.authfile } : {}),
    ...(values['cert-dir'] !== undefined ? { certDir: values['cert-dir'] } : {}),
    ...(tls !== undefined ? { tlsVerify: tls === 'true' } : {}),
  };
  return Object.keys(options).length > 0 ? options : undefined;
}
