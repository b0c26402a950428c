// Command-line argument helpers shared by the CLI and `layercopy bench`.
import { type BatchSize, type IdMap, validateIdMap } from '../core/options.js';

/** The parsed flags of the CLI (provision, destroy and bench share one parser). */
export type CliValues = {
  concurrency?: string;
  'batch-size'?: string;
  strategy?: string;
  platform?: string;
  'uid-map'?: string[];
  'gid-map'?: string[];
  runs?: string;
  scratch?: string;
  json?: boolean;
  quiet?: boolean;
};

/** A usage error: one line, exit status 2. */
export class UsageError extends Error {}

const isPositiveInt = (value: string) => /^[1-9][0-9]*$/.test(value) && Number.isSafeInteger(Number(value));

export function positiveInt(flag: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  if (!isPositiveInt(value)) throw new UsageError(`${flag} must be a positive integer (got '${value}')`);
  return Number(value);
}

/** --batch-size: a positive integer or 'auto'. */
export function batchSizeArg(flag: string, value: string | undefined): BatchSize | undefined {
  if (value === undefined || value === 'auto') return value;
  if (!isPositiveInt(value)) throw new UsageError(`${flag} must be a positive integer or 'auto' (got '${value}')`);
  return Number(value);
}

export function intList(flag: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  return value.split(',').map((v) => positiveInt(flag, v.trim())!);
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
