import { LayercopyError } from '../core/errors.js';
import { readConfFile, registriesConfFiles } from './config-files.js';
import { parseRegistriesFile, type RegistryEntry } from './config-parse.js';
import { apiHost, type DockerReference, normalizeName, showReference } from './reference.js';

/** One place to pull an image from: a mirror, or the registry itself (or where its location points). */
export interface PullSource {
  /** host[:port] to connect to (apiHost applied: docker.io is registry-1.docker.io). */
  host: string;
  /** The repository's path on that host. */
  repository: string;
  /** Whether registries.conf marks this endpoint insecure (TLS unverified, plain http allowed). */
  insecure: boolean;
  mirror: boolean;
  /** For mirrors: the ?ns= value, the registry the image is from (e.g. 'docker.io'), as Spegel, Dragonfly and containerd send it. */
  ns?: string;
}

/** registries.conf (v2) as read: its [[registry]] tables, merged over the drop-ins, sorted by prefix. */
export interface RegistriesConf {
  registries: RegistryEntry[];
  /** The files read, in order, for messages. */
  files: string[];
}

/**
 * Reads registries.conf: `$CONTAINERS_REGISTRIES_CONF` alone, else
 * ~/.config/containers/registries.conf or /etc/containers/registries.conf
 * with their registries.conf.d/ drop-ins (see registriesConfFiles). A
 * drop-in's table replaces the table of the same prefix read before it, as
 * containers/image merges them. No file at all is no configuration.
 */
export function loadRegistriesConf(opts: { env?: NodeJS.ProcessEnv; home?: string; systemFile?: string } = {}): RegistriesConf {
  const { main, required, dropIns } = registriesConfFiles(opts);
  const byPrefix = new Map<string, RegistryEntry>();
  const files: string[] = [];
  for (const file of [main, ...dropIns]) {
    // A drop-in removed between the listing and the read is skipped, as containers/image skips it.
    const text = readConfFile(file, required && file === main);
    if (text === undefined) continue;
    files.push(file);
    for (const entry of parseRegistriesFile(file, text)) byPrefix.set(entry.prefix, entry);
  }
  const registries = [...byPrefix.keys()].sort().map((prefix) => byPrefix.get(prefix)!);
  return { registries, files };
}

/**
 * Where to pull `ref` from, in order: the mirrors of the [[registry]] whose
 * prefix matches it longest (those pull-from-mirror allows for a reference
 * by tag or by digest), then the registry itself, its prefix rewritten to
 * its location. A prefix matches `host[/path]` whole or at a '/'; a
 * `*.example.com` prefix matches hosts under example.com. With no match,
 * the registry alone. A blocked registry is ERR_INVALID_ARGUMENT; `index`
 * (the argument's 0-based position) goes into the error's fields.
 */
export function pullSources(conf: RegistriesConf, ref: DockerReference, index?: number): PullSource[] {
  const label = index === undefined ? ref.given : `layer ${index + 1} (${ref.given})`;
  const fail = (what: string) => new LayercopyError(`${label}: ${what}`, { code: 'ERR_INVALID_ARGUMENT', layer: ref.given, layerIndex: index });
  const name = `${ref.registry}/${ref.repository}`;
  const match = findRegistry(conf.registries, ref.registry, name);
  if (match === undefined) return [{ host: apiHost(ref.registry), repository: ref.repository, insecure: false, mirror: false }];
  const { entry, length } = match;
  const where = `registries.conf prefix "${entry.prefix}" (read: ${conf.files.join(', ')})`;
  if (entry.blocked) throw fail(`${showReference(ref)} is blocked by ${where}`);

  const source = (location: string, insecure: boolean, mirror: boolean): PullSource => {
    // A wildcard prefix without a location pulls from the host the reference names.
    const rewritten = location === '' ? name : location + name.slice(length);
    // As containers/image's ParseNamed: the location must name its registry; "mirror/x" would be read as docker.io/mirror/x.
    const host = rewritten.slice(0, Math.max(rewritten.indexOf('/'), 0));
    if (!/[.:]/.test(host) && host !== 'localhost') {
      throw fail(
        `${where} rewrites ${name} to "${rewritten}" (location "${location}"), which names no registry: write host[:port][/path] (a host with a '.' or a ':', or localhost)`,
      );
    }
    const named = normalizeName(rewritten);
    if ('problem' in named) throw fail(`${where} rewrites ${name} to "${rewritten}" (location "${location}"), which is not a repository: ${named.problem}`);
    const out: PullSource = { host: apiHost(named.registry), repository: named.repository, insecure, mirror };
    if (mirror) out.ns = ref.registry;
    return out;
  };
  const byDigest = ref.digest !== undefined;
  const mirrors = entry.mirrors.filter((m) => (m.pullFromMirror === 'digest-only' ? byDigest : m.pullFromMirror === 'tag-only' ? !byDigest : true));
  return [...mirrors.map((m) => source(m.location, m.insecure, true)), source(entry.location, entry.insecure, false)];
}

/** The entry whose prefix matches longest, and how many characters of the name the match covers (what its location replaces). */
function findRegistry(registries: RegistryEntry[], registry: string, name: string): { entry: RegistryEntry; length: number } | undefined {
  let best: { entry: RegistryEntry; length: number } | undefined;
  let bestPrefix = 0;
  for (const entry of registries) {
    const length = matchLength(entry.prefix, registry, name);
    if (length !== undefined && entry.prefix.length > bestPrefix) {
      best = { entry, length };
      bestPrefix = entry.prefix.length;
    }
  }
  return best;
}

function matchLength(prefix: string, registry: string, name: string): number | undefined {
  if (prefix.startsWith('*.')) {
    // *.example.com: any host under example.com (not example.com itself), on any port.
    const host = registry.replace(/:[0-9]+$/, '');
    return host.endsWith(prefix.slice(1)) ? host.length : undefined;
  }
  return name === prefix || name.startsWith(`${prefix}/`) ? prefix.length : undefined;
}
