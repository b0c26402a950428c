import { LayercopyError } from '../core/errors.js';
import { parseLayerArgument } from '../images/reference.js';
import { refKey } from './image.js';
import type { Store } from './layout.js';
import { type RefRecord, updateRefs } from './refs.js';

// rmi: dropping references, named as pull recorded them or by a manifest
// digest, whole or a unique prefix of it (the short form `images` prints).

/**
 * The fewest hex digits a digest prefix may have: docker's (its reference
 * package's short identifier, `[a-f0-9]{6,64}`); fewer would match by chance
 * in a store of a few hundred images.
 */
export const MIN_PREFIX = 6;

type Wanted = { ref: string } | { digest: string } | { prefix: string };

/** What a REF given to rmi names: a reference as pull would record it, a manifest digest, or a prefix of one. */
function wanted(given: string): Wanted {
  const hex = /^(?:sha256:)?([0-9a-f]{1,64})$/.exec(given)?.[1];
  if (hex?.length === 64) return { digest: `sha256:${hex}` };
  if (hex !== undefined) {
    if (hex.length < MIN_PREFIX) {
      throw new LayercopyError(`${given}: too short for a digest prefix: give at least ${MIN_PREFIX} hex digits of the manifest digest (layercopy images lists them)`, {
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
    return { prefix: `sha256:${hex}` };
  }
  const arg = parseLayerArgument(given, 0);
  if (arg.kind === 'path') {
    throw new LayercopyError(`${given}: not an image reference (docker://…, oci:…, oci-archive:…, docker-archive:…, or a manifest digest or a prefix of one)`, {
      code: 'ERR_INVALID_ARGUMENT',
    });
  }
  return { ref: refKey(arg) };
}

function matches(w: Wanted, r: RefRecord): boolean {
  if ('ref' in w) return r.ref === w.ref;
  if ('digest' in w) return r.digest === w.digest;
  return r.digest.startsWith(w.prefix);
}

/** A prefix that begins several manifest digests names none of them: the error lists each with its references. */
function ambiguity(given: string, found: RefRecord[]): LayercopyError | undefined {
  const digests = [...new Set(found.map((r) => r.digest))];
  if (digests.length < 2) return undefined;
  const candidates = digests.map(
    (d) =>
      `${d} (${found
        .filter((r) => r.digest === d)
        .map((r) => r.ref)
        .join(', ')})`,
  );
  return new LayercopyError(`${given} is ambiguous: it begins ${digests.length} manifest digests: ${candidates.join('; ')}; give more of the digest`, {
    code: 'ERR_INVALID_ARGUMENT',
  });
}

/**
 * Drops references (every platform of each; a digest or a prefix of one:
 * every reference to it). An unknown REF or an ambiguous prefix fails the
 * whole call, nothing dropped.
 */
export async function removeRefs(store: Store, given: readonly string[]): Promise<RefRecord[]> {
  const want = given.map(wanted);
  let dropped: RefRecord[] = [];
  await updateRefs(store, (refs) => {
    const found = want.map((w) => refs.filter((r) => matches(w, r)));
    for (const [i, f] of found.entries()) {
      const ambiguous = 'prefix' in want[i] ? ambiguity(given[i], f) : undefined;
      if (ambiguous) throw ambiguous;
    }
    const unknown = given.filter((_, i) => found[i].length === 0);
    if (unknown.length > 0) throw new LayercopyError(`not in the store: ${unknown.join(', ')}`, { code: 'ERR_IMAGE_NOT_FOUND', layer: unknown[0] });
    dropped = refs.filter((r) => found.some((f) => f.includes(r)));
    return refs.filter((r) => !dropped.includes(r));
  });
  return dropped;
}
