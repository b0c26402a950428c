import fs from 'node:fs';

// Node 20 reads and parses the file NODE_EXTRA_CA_CERTS names as it starts,
// before any JavaScript runs, with its own bundle of roots beside it: 40–45 ms
// of every run where it names the system bundle (144 certificates), a third
// of an empty provision's time (docs/benchmarks.md, "Startup"). layercopy
// needs those CAs only for TLS to a registry or a proxy. The bin script
// (src/cli/layercopy.sh) moves the variable to MOVED; the CLI puts it back
// for the processes it starts (credential helpers, the bench's baselines)
// and the registry's TLS reads the file when it first connects.

/** Where the bin script keeps NODE_EXTRA_CA_CERTS's value, unset in Node's own. */
export const MOVED = 'LAYERCOPY_EXTRA_CA_CERTS';

let deferred: string | undefined;
let loaded: { pem: string | undefined } | undefined;

/**
 * Takes the file the bin script moved aside: NODE_EXTRA_CA_CERTS is set
 * again in `env` (for child processes) and the file is read by
 * extraCaCerts(). Does nothing where Node was started with the variable
 * itself (`node cli.js`): Node has read the file then.
 */
export function takeMovedExtraCa(env: NodeJS.ProcessEnv = process.env): void {
  const file = env[MOVED];
  if (file === undefined) return;
  delete env[MOVED];
  if (!file || env.NODE_EXTRA_CA_CERTS) return;
  env.NODE_EXTRA_CA_CERTS = file;
  deferred = file;
  loaded = undefined;
}

/**
 * The certificates (PEM) of the file the bin script moved aside, read once;
 * undefined where there is none, or where Node read it as it started. A
 * file that cannot be read is warned of and passed over, as Node does with
 * NODE_EXTRA_CA_CERTS ("Ignoring extra certs from …").
 */
export function extraCaCerts(): string | undefined {
  if (deferred === undefined) return undefined;
  if (!loaded) {
    try {
      loaded = { pem: fs.readFileSync(deferred, 'utf8') };
    } catch (error) {
      process.emitWarning(`Ignoring extra certs from \`${deferred}\`, load failed: ${(error as Error).message}`);
      loaded = { pem: undefined };
    }
  }
  return loaded.pem;
}
