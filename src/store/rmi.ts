import { LayercopyError } from '../core/errors.js';
import { parseLayerArgument } from '../images/reference.js';
import { parseDockerReference } from '../registry/reference.js';
import { refKey } from './image.js';
import type { Store } from './layout.js';
import { type RefRecord, referenceKey, updateRefs } from './refs.js';

// rmi: dropping references, named as pull recorded them (normalized: `app`
// is `app:latest`), by the digest they were pulled by (an index's or a
// manifest's), or by a manifest digest, whole or a unique prefix of it
// (the short form `images` prints).

/**
 * The fewest hex digits a digest prefix may have: docker's (its reference
 * package's short identifier, `[a-f0-9]{6,64}`); fewer would match by chance
 * in a store of a few hundred images.
 */
export const MIN_PREFIX = 6;

/** A reference rmi dropped, for one platform. */
export interface Untagged {
  reference: string;
  platform: string;
  digest: string;
  /** The reference held other platforms too: rmi names this one's. */
  severalPlatforms: boolean;
}

/** A reference as recorded; for REPO@DIGEST also the repository (docker://HOST/REPO) and digest, which find it pulled by a tag too. */
type Wanted = { ref: string; repo?: string; digest?: string } | { digest: string } | { prefix: string };

/** The digest a recorded reference was pulled by (`…@sha256:…`: an index's or a manifest's), if any. */
const pulledBy = (ref: string) => /@(sha256:[0-9a-f]{64})$/.exec(ref)?.[1];

/** docker://HOST/REPOSITORY of a recorded (normalized) docker:// reference. */
function repoOf(ref: string): string | undefined {
  if (!ref.startsWith('docker://')) return undefined;
  try {
    const d = parseDockerReference(ref, 0);
    return `docker://${d.registry}/${d.repository}`;
  } catch {
    return undefined;
  }
}

/** A docker:// REF, normalized; its problem named as rmi's. */
function dockerWanted(given: string): Wanted {
  const d = parseDockerReference(given, 'rmi');
  return { ref: referenceKey(d), ...(d.digest ? { repo: `docker://${d.registry}/${d.repository}`, digest: d.digest } : {}) };
}

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
  if (arg.kind === 'docker') return dockerWanted(given);
  if (arg.kind === 'path') {
    throw new LayercopyError(`${given}: not an image reference (docker://…, oci:…, oci-archive:…, docker-archive:…, or a manifest digest or a prefix of one)`, {
      code: 'ERR_INVALID_ARGUMENT',
    });
  }
  return { ref: refKey(arg) };
}

function matches(w: Wanted, r: RefRecord): boolean {
  const by = (digest: string) => r.digest === digest || r.index === digest || pulledBy(r.ref) === digest;
  if ('ref' in w) return r.ref === w.ref || (w.digest !== undefined && repoOf(r.ref) === w.repo && by(w.digest));
  if ('digest' in w) return by(w.digest);
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
 * every reference to it, for the platforms it is the manifest of). An
 * unknown REF or an ambiguous prefix fails the whole call, nothing dropped.
 * No store (the default one, before anything made it): none is known.
 */
export async function removeRefs(store: Store | undefined, given: readonly string[]): Promise<Untagged[]> {
  const want = given.map(wanted);
  let dropped: RefRecord[] = [];
  let platforms = new Map<string, number>();
  const drop = (refs: RefRecord[]) => {
    const found = want.map((w) => refs.filter((r) => matches(w, r)));
    for (const [i, f] of found.entries()) {
      const ambiguous = 'prefix' in want[i] ? ambiguity(given[i], f) : undefined;
      if (ambiguous) throw ambiguous;
    }
    const unknown = given.filter((_, i) => found[i].length === 0);
    if (unknown.length > 0) throw new LayercopyError(`not in the store: ${unknown.join(', ')}`, { code: 'ERR_IMAGE_NOT_FOUND', layer: unknown[0] });
    dropped = refs.filter((r) => found.some((f) => f.includes(r)));
    platforms = new Map(refs.map((r) => [r.ref, refs.filter((o) => o.ref === r.ref).length]));
    return refs.filter((r) => !dropped.includes(r));
  };
  if (store) await updateRefs(store, drop);
  else drop([]);
  return dropped.map((r) => ({ reference: r.ref, platform: r.platform, digest: r.digest, severalPlatforms: (platforms.get(r.ref) ?? 0) > 1 }));
}
