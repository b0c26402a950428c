// The store's commands: pull, images, rmi, prune, verify (docs/cli.md, "The store").
import type { LayercopyError } from '../core/errors.js';
import { PULL_POLICIES, type PullPolicy, parsePlatform } from '../core/options.js';
import { concurrencyArg, positiveInt, REGISTRY_FLAGS, registryArgs, rootlessArgs, UsageError, type CliValues as Values } from './args.js';
import { escapeForTerminal, progressLine } from './output.js';
import { interruptHandler, SIGNALS } from './signals.js';

export const STORE_COMMANDS = ['pull', 'images', 'rmi', 'prune', 'verify'] as const;
/** The flags parseArgs takes for the store. */
export const PULL_FLAGS = { store: { type: 'string' }, pull: { type: 'string' }, repair: { type: 'boolean' } } as const;

export const STORE_USAGE = `  layercopy pull [--store DIR] [--pull always] [--platform P] [--owners O] [--devices D] [--concurrency N]
                 [registry flags] [--json] [--quiet] IMAGE
  layercopy images [--store DIR] [--json] [--quiet]
  layercopy rmi [--store DIR] [--json] [--quiet] REF...
  layercopy prune [--store DIR] [--json] [--quiet]
  layercopy verify [--store DIR] [--repair] [--json] [--quiet]`;

export const STORE_HELP = `pull       put IMAGE's blobs and extracted layers into the store (each fetched
           and extracted once, whoever else pulls it at the same time) and
           print its manifest digest
images     list the references the store holds
rmi        drop references (REF as pulled, app as app:latest; the digest it
           was pulled by; or a manifest digest or a unique prefix of one, 6
           hex digits at least, as images prints it)
prune      remove what no reference holds and no running provision uses
verify     hash every blob again, check every layer against its listing;
           --repair removes what is damaged, for the next pull to fetch again`;

export const STORE_OPTIONS = `  --store DIR       a store (default for provision: $LAYERCOPY_STORE, else none):
                    images pulled and extracted there once, rootfs copied from it;
                    pull, images, rmi, prune, verify default to $LAYERCOPY_STORE,
                    else /var/lib/layercopy as root, else ~/.local/share/layercopy
  --pull P          with a store: missing (default: no request for an image it
                    holds), always (resolve at the source again), never
  --repair          verify: remove what is damaged, for the next pull to fetch again`;

export const isStoreCommand = (command: string): command is (typeof STORE_COMMANDS)[number] => (STORE_COMMANDS as readonly string[]).includes(command);

/** provision's --store (else $LAYERCOPY_STORE) and --pull, as its options. */
export function storeArgs(values: Values): { store?: string; pull?: PullPolicy } {
  if (values.repair) throw new UsageError('--repair is a verify option');
  const store = values.store ?? (process.env.LAYERCOPY_STORE || undefined);
  const pull = pullPolicy(values, store);
  return { ...(store !== undefined ? { store } : {}), ...(pull !== undefined ? { pull } : {}) };
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/**
 * Bytes as podman's images prints them (go-units' HumanSizeWithPrecision, 3
 * digits): decimal units, 3 significant digits, no trailing zeros — 812 B,
 * 10.1 kB, 1.5 MB, 813 MB, 2.04 GB. A fixed "0.0 MB" said nothing of a small image.
 */
export function humanSize(bytes: number): string {
  let v = bytes;
  let unit = 0;
  // 999.7 kB rounds to 1000 kB at 3 digits: that is 1 MB.
  while (unit < UNITS.length - 1 && Number(v.toPrecision(3)) >= 1000) {
    v /= 1000;
    unit++;
  }
  return `${unit === 0 ? v : Number(v.toPrecision(3))} ${UNITS[unit]}`;
}

/** "1 layer", "3 layers". */
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** --pull: one of the policies, and only with a store. */
export function pullPolicy(values: Values, store: string | undefined): PullPolicy | undefined {
  if (values.pull === undefined) return undefined;
  if (!PULL_POLICIES.includes(values.pull as PullPolicy)) throw new UsageError(`--pull must be one of ${PULL_POLICIES.join(', ')} (got '${values.pull}')`);
  if (store === undefined) throw new UsageError('--pull needs a store (--store DIR or $LAYERCOPY_STORE)');
  return values.pull as PullPolicy;
}

function reject(command: string, values: Values, allowed: readonly string[]): void {
  const given = Object.entries(values).filter(([k, v]) => v !== undefined && !['json', 'quiet', 'store', ...allowed].includes(k));
  if (given.length > 0) throw new UsageError(`--${given[0][0]} is not an option of ${command}`);
}

export async function runStore(command: (typeof STORE_COMMANDS)[number], args: string[], values: Values): Promise<number> {
  const api = await import('../store/api.js');
  const store = values.store ?? (process.env.LAYERCOPY_STORE || undefined);
  const out = (json: unknown, text: () => string) => {
    if (values.json) process.stdout.write(`${JSON.stringify(json)}\n`);
    else if (!values.quiet) process.stdout.write(`${text()}\n`);
  };
  try {
    if (command === 'pull') {
      reject(command, values, ['pull', 'platform', 'concurrency', 'owners', 'devices', ...REGISTRY_FLAGS]);
      if (args.length !== 1) throw new UsageError('pull needs exactly one IMAGE');
      if (values.platform !== undefined) {
        try {
          parsePlatform(values.platform);
        } catch (error) {
          throw new UsageError(`--platform ${(error as Error).message}`);
        }
      }
      const controller = new AbortController();
      const { native } = await import('../core/native.cjs');
      const interrupt = interruptHandler(controller, { shutdown: native.shutdown, left: 'the next pull, provision or prune of this store removes what is left' });
      for (const signal of SIGNALS) process.on(signal, interrupt.onSignal);
      const progress = values.quiet || values.json ? { update() {}, done() {} } : progressLine();
      try {
        const r = await api.pull(args[0], {
          store,
          pull: pullPolicy(values, store ?? api.storeDir()),
          platform: values.platform,
          owners: rootlessArgs(values).owners,
          devices: rootlessArgs(values).devices,
          registry: registryArgs(values),
          maxDownloads: positiveInt('--max-downloads', values['max-downloads']),
          concurrency: concurrencyArg(values.concurrency),
          signal: controller.signal,
          onProgress: (p) => progress.update(p),
        });
        progress.done();
        out(r, () => r.digest);
        // A mirror passed over in silence would hide a registries.conf mistake: told on stderr, as provision's summary tells it.
        if (!values.quiet && !values.json)
          for (const p of r.passedOver ?? []) process.stderr.write(`layercopy: mirror ${escapeForTerminal(p.host)} passed over: ${escapeForTerminal(p.why)}\n`);
        return 0;
      } catch (error) {
        progress.done();
        return failure(error, values, interrupt.status());
      }
    }
    reject(command, values, command === 'verify' ? ['repair'] : []);
    if (command === 'images') {
      if (args.length > 0) throw new UsageError('images takes no arguments');
      const list = await api.images({ store });
      // -q: the digests alone, once each, as docker and podman's images -q print IDs (layercopy rmi $(layercopy images -q)).
      if (values.quiet && !values.json) {
        const digests = [...new Set(list.map((i) => i.digest.slice(0, 19)))];
        if (digests.length > 0) process.stdout.write(`${digests.join('\n')}\n`);
        return 0;
      }
      out(list, () =>
        [
          'REFERENCE\tPLATFORM\tDIGEST\tSIZE\tLAST USED',
          ...list.map((i) => [escapeForTerminal(i.reference), i.platform, i.digest.slice(0, 19), humanSize(i.size), i.lastUsed].join('\t')),
          ...(list.some((i) => i.incomplete)
            ? [
                `incomplete (its next pull fetches what is missing; layercopy verify lists it): ${list
                  .filter((i) => i.incomplete)
                  .map((i) => escapeForTerminal(i.reference))
                  .join(', ')}`,
              ]
            : []),
        ].join('\n'),
      );
    } else if (command === 'rmi') {
      if (args.length === 0) throw new UsageError('rmi needs at least one REF');
      const untagged = await api.untag(args, { store });
      // A reference of several platforms may lose only one: the line names it.
      out({ removed: untagged.map((r) => r.reference), untagged: untagged.map(({ reference, platform, digest }) => ({ reference, platform, digest })) }, () =>
        untagged.map((r) => `untagged ${escapeForTerminal(r.reference)}${r.severalPlatforms ? ` (${r.platform})` : ''}`).join('\n'),
      );
    } else if (command === 'prune') {
      if (args.length > 0) throw new UsageError('prune takes no arguments');
      const r = await api.prune({ store });
      const leftovers = r.tmpRemoved > 0 ? `, ${count(r.tmpRemoved, 'leftover')} of interrupted pulls` : '';
      out(r, () => `freed ${humanSize(r.bytes)}: ${count(r.blobs, 'blob')}, ${count(r.layers, 'layer')}${leftovers} removed${r.skipped ? `; ${r.skipped} in use, kept` : ''}`);
    } else {
      if (args.length > 0) throw new UsageError('verify takes no arguments');
      const r = await api.verify({ store, repair: values.repair === true });
      const show = (what: string, d: { kind: string; id: string; path: string }) => `${what} ${d.kind} ${escapeForTerminal(d.id)} (${escapeForTerminal(d.path)})`;
      // Repaired: every damaged entry removed. An incomplete reference is no damage: its next pull fetches what it lacks.
      const status = values.repair ? ((r.inUse ?? []).length === 0 ? 0 : 1) : r.damaged.length === 0 ? 0 : 1;
      const text = () =>
        [
          `checked ${count(r.blobs, 'blob')}, ${count(r.layers, 'layer')}, ${count(r.refs, 'reference')}: ${r.damaged.length === 0 ? 'no damage' : `${r.damaged.length} damaged`}${r.incomplete.length > 0 ? `, ${r.incomplete.length} incomplete` : ''}`,
          ...r.damaged.flatMap((d) => [show('damaged', d), ...d.problems.map((p) => `  ${escapeForTerminal(p)}`)]),
          ...r.incomplete.flatMap((d) => [
            `${show('incomplete', d)}: its next pull fetches what is missing (layercopy pull ${escapeForTerminal(d.id)})`,
            ...d.missing.map((p) => `  ${escapeForTerminal(p)}`),
          ]),
          ...(r.removed ?? []).map((d) => show('removed', d)),
          ...(r.inUse ?? []).map((d) => `${show('in use, kept', d)}: run verify --repair again once it is free`),
        ].join('\n');
      // Quiet prints nothing on success; damage is a failure, told on stderr as errors are.
      if (status !== 0 && values.quiet && !values.json) process.stderr.write(`${text()}\n`);
      else out(r, text);
      return status;
    }
    return 0;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    return failure(error, values);
  }
}

function failure(error: unknown, values: Values, abortStatus?: number): number {
  const e = error as LayercopyError;
  process.stderr.write(`layercopy: ${escapeForTerminal(e.message)}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify({ error: { message: e.message, code: e.code, layer: e.layer, path: e.path, digest: e.digest } })}\n`);
  return abortStatus ?? (e.code === 'ERR_INVALID_ARGUMENT' || e.code === 'ERR_INVALID_OPTION' ? 2 : 1);
}
