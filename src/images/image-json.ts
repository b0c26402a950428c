// The JSON an image is described by (an OCI layout's index.json and blobs, a
// docker-archive's manifest.json, configs), taken as hostile: read for the
// shape its readers rely on, each part once. A `null` where an object
// belongs, or a string where a list does, is ERR_INVALID_IMAGE saying which
// part (through `fail`, which names the image), not a TypeError reported
// against the rootfs.
import type { LayercopyError } from '../core/errors.js';

export type Fail = (message: string) => LayercopyError;

const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * A value of hostile JSON for a message: a string as it is, anything else
 * by its kind ("(a list)") — a list nested a million deep in a ref.name
 * annotation or a media type overflowed the stack when a template string
 * joined it.
 */
export const shownJson = (value: unknown): string => (typeof value === 'string' ? value : `(${kind(value)})`);

export function jsonObject(value: unknown, what: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail(`${what} is ${kind(value)}, not a JSON object`);
  return value as Record<string, unknown>;
}

/** A list, each item checked by `item` (named `what[i]`). */
export function listOf<T>(value: unknown, what: string, fail: Fail, item: (v: unknown, what: string, fail: Fail) => T): T[] {
  if (!Array.isArray(value)) throw fail(`${what} is ${kind(value)}, not a list`);
  return value.map((v, i) => item(v, `${what}[${i}]`, fail));
}

/** A list field of `of`; absent or null, an empty one. */
export function listField<T>(of: Record<string, unknown>, field: string, what: string, fail: Fail, item: (v: unknown, what: string, fail: Fail) => T): T[] {
  return of[field] === undefined || of[field] === null ? [] : listOf(of[field], `${what}: ${field}`, fail, item);
}

export function text(value: unknown, what: string, fail: Fail): string {
  if (typeof value !== 'string') throw fail(`${what} is ${kind(value)}, not a string`);
  return value;
}

/** A sha256 digest, the only kind layercopy computes (a diff_id of 'sha256:../../x' reached the store's file names). */
function sha256Digest(value: unknown, what: string, fail: Fail): string {
  const digest = text(value, what, fail);
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw fail(`${what} is ${JSON.stringify(digest.slice(0, 100))}, not a sha256 digest`);
  return digest;
}

/**
 * A descriptor: an object whose digest is a string (what every reader of
 * one asks first) and whose size is a whole number of bytes, as the OCI
 * image spec requires: a registry's layer without one was downloaded for
 * as long as the registry sent bytes (13 GB in 40 s of an endless body).
 */
export function descriptor<D>(value: unknown, what: string, fail: Fail): D {
  const d = jsonObject(value, what, fail);
  text(d.digest, `${what}: digest`, fail);
  if (d.size === undefined) throw fail(`${what}: size is missing (a descriptor must give its blob's size)`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    throw fail(`${what}: size is ${kind(d.size) === 'a number' ? String(d.size) : kind(d.size)}, not a whole number of bytes`);
  return d as D;
}

/** An image index's descriptors (index.json or a nested index). */
export function manifestsOf<D>(value: unknown, what: string, fail: Fail): D[] {
  return listField(jsonObject(value, what, fail), 'manifests', what, fail, descriptor<D>);
}

/** A manifest's config and layers; undefined where it lacks either (the caller says so). */
export function manifestParts<D>(value: unknown, what: string, fail: Fail): { config: D; layers: D[] } | undefined {
  const m = jsonObject(value, what, fail);
  if (m.config === undefined || m.layers === undefined) return undefined;
  return { config: descriptor<D>(m.config, `${what}: config`, fail), layers: listOf(m.layers, `${what}: layers`, fail, descriptor<D>) };
}

/** An image config, its rootfs.diff_ids checked as a list of strings (absent: none). */
export function imageConfig(value: unknown, what: string, fail: Fail): { os?: unknown; architecture?: unknown; variant?: unknown; diffIds: string[] } {
  const config = jsonObject(value, what, fail);
  const rootfs = config.rootfs === undefined || config.rootfs === null ? {} : jsonObject(config.rootfs, `${what}: rootfs`, fail);
  return { ...config, diffIds: listField(rootfs, 'diff_ids', `${what}: rootfs`, fail, sha256Digest) };
}

/**
 * Descriptors each once by digest, the first kept: an index listing one
 * child index 19,000 times, that one listing another as often, had every
 * copy read and expanded in turn (361 million lists, the process busy for
 * good on a 4 MB layout).
 */
export function distinct<D extends { digest: string }>(descriptors: readonly D[]): D[] {
  return firstOf(descriptors, (d) => d.digest);
}

/** Each item once by its key, the first kept (a store's layers by diff_id, a pull's blobs by digest). */
export function firstOf<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    return !seen.has(k) && seen.add(k) !== undefined;
  });
}

/**
 * Items for a message, at most `max` of them and how many more: an index
 * of 200,000 entries made a 6 MB error message, listing every one.
 */
export function shortList(items: readonly string[], separator = ', ', max = 20): string {
  const more = items.length > max ? `${separator}and ${items.length - max} more` : '';
  return items.slice(0, max).join(separator) + more;
}
