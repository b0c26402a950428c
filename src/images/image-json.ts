// The JSON an image is described by (an OCI layout's index.json and blobs, a
// docker-archive's manifest.json, configs), taken as hostile: read for the
// shape its readers rely on, each part once.

/**
 * Descriptors each once by digest, the first kept: an index listing one
 * child index 19,000 times, that one listing another as often, had every
 * copy read and expanded in turn (361 million lists, the process busy for
 * good on a 4 MB layout).
 */
export function distinct<D extends { digest: string }>(descriptors: readonly D[]): D[] {
  const seen = new Set<string>();
  return descriptors.filter((d) => !seen.has(d.digest) && seen.add(d.digest) !== undefined);
}
