import { parse, TomlError } from 'smol-toml';
import { LayercopyError } from '../core/errors.js';

/** A `[[registry.mirror]]` table. */
export interface MirrorEntry {
  location: string;
  insecure: boolean;
  /** 'all' (the default), 'digest-only' or 'tag-only'; the registry's mirror-by-digest-only is read as 'digest-only' on each mirror. */
  pullFromMirror?: string;
}

/** A `[[registry]]` table, checked and normalized: prefix defaults to location; a `*.example.com` prefix may have no location. */
export interface RegistryEntry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrors: MirrorEntry[];
}

const PULL_FROM_MIRROR = ['all', 'digest-only', 'tag-only'];
type Table = Record<string, unknown>;

/**
 * The `[[registry]]` tables of one registries.conf (v2,
 * containers-registries.conf(5)), checked as containers/image's
 * postProcessRegistries checks them; where several tables share a prefix
 * the first is kept. Keys layercopy does not use (unqualified-search-
 * registries, aliases, credential-helpers, short-name-mode) are not read.
 */
export function parseRegistriesFile(file: string, text: string): RegistryEntry[] {
  const fail = (what: string, cause?: unknown) => new LayercopyError(`${file}: ${what}`, { code: 'ERR_INVALID_ARGUMENT', path: file, cause });
  let doc: Table;
  try {
    doc = parse(text);
  } catch (e) {
    if (!(e instanceof TomlError)) throw e;
    const reason = e.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
    throw new LayercopyError(`${file}:${e.line}:${e.column}: not valid TOML: ${reason}`, { code: 'ERR_INVALID_ARGUMENT', path: file, cause: e });
  }
  if (doc.registries !== undefined) {
    throw fail(
      '[registries.search], [registries.insecure] and [registries.block] are the v1 format, which layercopy does not read: write [[registry]] tables (v2, containers-registries.conf(5))',
    );
  }
  if (doc.registry === undefined) return [];
  if (!isTables(doc.registry)) throw fail('"registry" must be [[registry]] tables');

  const entries = doc.registry.map((table, i) => registryEntry(table, `[[registry]] #${i + 1}`, fail));
  checkConflicts(entries, fail);
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.prefix) && seen.add(e.prefix));
}

function registryEntry(t: Table, where: string, fail: (what: string) => LayercopyError): RegistryEntry {
  const location = locationOf(t, 'location', where, fail);
  const given = locationOf(t, 'prefix', where, fail);
  if (given === '' && location === '') throw fail(`${where}: neither location nor prefix is set`);
  // Host names are case-insensitive and references carry them lowercased.
  const prefix = given === '' ? lowerHost(location) : lowerHost(given);
  const name = `${where} (prefix "${prefix}")`;
  const wildcard = prefix.startsWith('*.');
  if (wildcard && /[/@:]/.test(prefix)) throw fail(`${name}: a wildcard prefix is *.example.com, with no port, path, tag or digest`);
  if (!wildcard && location === '') throw fail(`${name}: location is unset and the prefix is not of the form *.example.com`);
  if (t['pull-from-mirror'] !== undefined) throw fail(`${name}: pull-from-mirror is set on a registry; it belongs in its [[registry.mirror]] tables`);
  const byDigestOnly = boolOf(t, 'mirror-by-digest-only', name, fail);
  if (t.mirror !== undefined && !isTables(t.mirror)) throw fail(`${name}: "mirror" must be [[registry.mirror]] tables`);
  const mirrors = (t.mirror ?? []).map((m, j): MirrorEntry => {
    const at = `${name}, mirror #${j + 1}`;
    const mirror: MirrorEntry = { location: locationOf(m, 'location', at, fail), insecure: boolOf(m, 'insecure', at, fail) };
    if (mirror.location === '') throw fail(`${at}: location is unset`);
    const pull = m['pull-from-mirror'];
    if (pull !== undefined && (typeof pull !== 'string' || !PULL_FROM_MIRROR.includes(pull))) {
      throw fail(`${at}: pull-from-mirror is ${JSON.stringify(pull)}; it is one of ${PULL_FROM_MIRROR.join(', ')}`);
    }
    if (pull !== undefined && byDigestOnly) throw fail(`${at}: pull-from-mirror and the registry's mirror-by-digest-only are both set; set one`);
    if (pull !== undefined) mirror.pullFromMirror = pull;
    if (byDigestOnly) mirror.pullFromMirror = 'digest-only';
    return mirror;
  });
  return { prefix, location, insecure: boolOf(t, 'insecure', name, fail), blocked: boolOf(t, 'blocked', name, fail), mirrors };
}

/** Tables naming the same location (or wildcard prefix) must agree on insecure and blocked, as containers/image requires. */
function checkConflicts(entries: RegistryEntry[], fail: (what: string) => LayercopyError): void {
  const first = new Map<string, RegistryEntry>();
  for (const e of entries) {
    const key = e.location === '' ? e.prefix : e.location;
    const other = first.get(key);
    if (other === undefined) first.set(key, e);
    else if (other.insecure !== e.insecure) throw fail(`registry "${key}" is defined more than once with different "insecure" settings`);
    else if (other.blocked !== e.blocked) throw fail(`registry "${key}" is defined more than once with different "blocked" settings`);
  }
}

/** A location or prefix: a string without a URI scheme, trailing slashes dropped (parseLocation). */
function locationOf(t: Table, key: string, where: string, fail: (what: string) => LayercopyError): string {
  const v = t[key];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw fail(`${where}: ${key} must be a string`);
  const trimmed = v.replace(/\/+$/, '');
  if (/^https?:\/\//.test(trimmed)) throw fail(`${where}: ${key} "${v}": URI schemes are not supported; write host[:port][/path]`);
  return trimmed;
}

function boolOf(t: Table, key: string, where: string, fail: (what: string) => LayercopyError): boolean {
  const v = t[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw fail(`${where}: ${key} must be true or false`);
  return v;
}

function lowerHost(name: string): string {
  const slash = name.indexOf('/');
  return slash < 0 ? name.toLowerCase() : name.slice(0, slash).toLowerCase() + name.slice(slash);
}

function isTables(v: unknown): v is Table[] {
  return Array.isArray(v) && v.every((t) => typeof t === 'object' && t !== null && !Array.isArray(t) && !(t instanceof Date));
}
