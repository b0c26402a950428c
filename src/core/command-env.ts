import fs from 'node:fs';

// What the layercopy command (src/cli/layercopy.cjs) changes in the
// environment it starts Node in, and undoes here for the processes the CLI
// starts (credential helpers, the bench's baselines), which get the
// environment as it was given:
// - NODE_EXTRA_CA_CERTS is moved aside. Node 20 reads and parses the file it
//   names as it starts, before any JavaScript runs, with its own bundle of
//   roots beside it: 40–45 ms of every run where it names the system bundle
//   (144 certificates), a third of an empty provision's time
//   (docs/benchmarks.md). layercopy needs those CAs only for TLS to a
//   registry or a proxy: extraCaCerts() reads the file when it first connects.
// - GLIBC_TUNABLES gets glibc.malloc.hugetlb=1 for a pull, glibc.malloc.mmap_threshold fixed
//   otherwise (src/cli/layercopy.cjs says why).

/** Where the command keeps NODE_EXTRA_CA_CERTS's value, unset in Node's own environment. */
export const MOVED_CA = 'LAYERCOPY_EXTRA_CA_CERTS';
/** GLIBC_TUNABLES as it was given (empty: unset), where the command added to it. */
export const MOVED_TUNABLES = 'LAYERCOPY_GLIBC_TUNABLES';

let deferred: string | undefined;
/** The file Node read as it started (`node cli.js`, the library): the command moves it aside before. */
const atStart = process.env.NODE_EXTRA_CA_CERTS || undefined;
/** Each CA file's certificates (PEM), read once; undefined: it could not be read. */
const read = new Map<string, string | undefined>();

/**
 * Undoes what the command changed in `env`, for child processes; the CA
 * file it moved aside is read by extraCaCerts(). Does nothing where Node
 * was started otherwise (`node cli.js`: Node has read NODE_EXTRA_CA_CERTS then).
 */
export function restoreCommandEnv(env: NodeJS.ProcessEnv = process.env): void {
  const tunables = env[MOVED_TUNABLES];
  if (tunables !== undefined) {
    delete env[MOVED_TUNABLES];
    if (tunables) env.GLIBC_TUNABLES = tunables;
    else delete env.GLIBC_TUNABLES;
  }
  const file = env[MOVED_CA];
  if (file === undefined) return;
  delete env[MOVED_CA];
  if (!file || env.NODE_EXTRA_CA_CERTS) return;
  env.NODE_EXTRA_CA_CERTS = file;
  deferred = file;
}

/**
 * The certificates (PEM) of the file the command moved aside, read once;
 * undefined where there is none, or where Node read it as it started. A
 * file that cannot be read is warned of and passed over, as Node does with
 * NODE_EXTRA_CA_CERTS ("Ignoring extra certs from …").
 */
export function extraCaCerts(): string | undefined {
  return deferred === undefined ? undefined : readOnce(deferred, true);
}

/**
 * The certificates (PEM) Node read from NODE_EXTRA_CA_CERTS as it started,
 * read again once: a TLS context given CAs of its own (certs.d's) starts
 * from a copy of Node's root store that leaves them out, so they are added
 * back there. Undefined where Node read none (the command defers the file:
 * extraCaCerts()). A file that cannot be read is passed over: Node warned of it.
 */
export function startupCaCerts(): string | undefined {
  return atStart === undefined ? undefined : readOnce(atStart, false);
}

function readOnce(file: string, warn: boolean): string | undefined {
  if (!read.has(file)) {
    let pem: string | undefined;
    try {
      pem = fs.readFileSync(file, 'utf8');
    } catch (error) {
      if (warn) process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(error as Error).message}`);
    }
    read.set(file, pem);
  }
  return read.get(file);
}
