import fs from 'node:fs';
import path from 'node:path';
import { errnoError, fromNodeError, LayercopyError } from '../core/errors.js';
import { type DockerReference, parseDockerReference, showReference } from '../registry/reference.js';
import { refsLockPath, STORE_VERSION, type Store, tmpName } from './layout.js';
import { StoreLock } from './lock.js';

// refs.json: the references pulled, normalized (docker:// as podman names
// it, local paths made absolute), each with the platform it was pulled for
// and the manifest it resolved to.
// index.json mirrors it as an OCI image index, so that skopeo and umoci
// read the store as a layout. Both are replaced whole (a temporary file
// renamed over them), under locks/refs.

export interface RefRecord {
  /** The reference, normalized: `docker://HOST/REPOSITORY:TAG` (dockerKey), a local image's transport string with its path made absolute. */
  ref: string;
  /** os/arch[/variant] it was pulled for. */
  platform: string;
  /** The manifest's digest, media type and size. */
  digest: string;
  /** The index the reference named (a tag of a multi-platform image): rmi finds the reference by it too. */
  index?: string;
  mediaType: string;
  manifestSize: number;
  /** Bytes of its blobs: manifest, config, compressed layers. */
  size: number;
  /** ISO times: when it was pulled (its digest last changed) and last provisioned or pulled. */
  pulled: string;
  lastUsed: string;
}

interface RefsFile {
  version: number;
  refs: RefRecord[];
}

/**
 * A docker:// reference as refs.json keys it: normalized as podman and
 * containers-storage name images (docker.io, library/, :latest where
 * neither tag nor digest is given), so that `app` and `app:latest` are one
 * reference. Throws the parser's ERR_INVALID_ARGUMENT for an invalid one.
 */
export function dockerKey(given: string, argument: number | string): string {
  return referenceKey(parseDockerReference(given, argument));
}

/** The key of a docker:// reference already parsed (dockerKey). */
export const referenceKey = (ref: DockerReference): string => `docker://${showReference(ref)}`;

/**
 * The records as keyed now. A store written before kept docker://
 * references as typed: each is read normalized, and where two name one
 * reference (`app` and `app:latest`) for one platform, the last used is
 * kept. A key that no longer parses is left as it is (rmi can still drop it).
 */
function normalized(refs: RefRecord[]): RefRecord[] {
  const byKey = new Map<string, RefRecord>();
  for (const r of refs) {
    let ref = r.ref;
    if (ref.startsWith('docker://')) {
      try {
        ref = dockerKey(ref, 0);
      } catch {}
    }
    const key = `${ref}\0${r.platform}`;
    const seen = byKey.get(key);
    if (!seen || r.lastUsed > seen.lastUsed) byKey.set(key, ref === r.ref ? r : { ...r, ref });
  }
  return [...byKey.values()];
}

export function readRefs(store: Store): RefRecord[] {
  const file = path.join(store.root, 'refs.json');
  let parsed: RefsFile;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as RefsFile;
  } catch (error) {
    throw new LayercopyError(`store ${store.root}: refs.json cannot be read (${(error as Error).message})`, { code: 'ERR_STORE', path: file, cause: error });
  }
  if (parsed.version !== STORE_VERSION || !Array.isArray(parsed.refs)) {
    throw new LayercopyError(`store ${store.root}: refs.json is of version ${parsed.version}; this layercopy reads version ${STORE_VERSION}`, { code: 'ERR_STORE', path: file });
  }
  return normalized(parsed.refs);
}

/**
 * Replaces the store's files (name, data), each through a temporary file
 * synced before any rename: a crash leaves the old files or the new ones.
 * Each is written whole (writeFileSync writes again after a short write,
 * then fails): one writeSync on a filesystem that was nearly full wrote
 * 4,096 of 7,800 bytes without an error, and the cut refs.json renamed over
 * the good one left the store unreadable. Every file is written before any
 * is renamed: a failure leaves them all as they were and names the store.
 */
export function replaceFiles(store: Store, files: [name: string, data: string][]): void {
  const written: [tmp: string, name: string][] = [];
  let name = files[0]?.[0] ?? '';
  try {
    for (const [file, data] of files) {
      name = file;
      const tmp = path.join(store.root, 'tmp', tmpName(file));
      written.push([tmp, file]);
      const fd = fs.openSync(tmp, 'w', 0o644);
      try {
        fs.writeFileSync(fd, data);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    for (const [tmp, file] of written) {
      name = file;
      fs.renameSync(tmp, path.join(store.root, file));
    }
  } catch (error) {
    for (const [tmp] of written) fs.rmSync(tmp, { force: true });
    throw errnoError(
      fromNodeError(error, 'write', path.join(store.root, name)),
      () => `store ${store.root}: ${name} cannot be written (${(error as Error).message}); it is left as it was`,
      {
        cause: error,
      },
    );
  }
}

function platformObject(p: string) {
  const [os, architecture, variant] = p.split('/');
  return { os, architecture, ...(variant ? { variant } : {}) };
}

// The OCI image-layout grammar of ref.name (skopeo checks it): components of alphanumerics and separators.
const REF_NAME = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/**
 * The name skopeo and umoci look an image up by (oci:STORE:NAME): a
 * docker:// reference without `docker://` (127.0.0.1:5000/app:1), a local
 * one as TRANSPORT/PATH (oci/images/app:1); undefined where that is no
 * valid name (the image is then found by digest: oci:STORE@sha256:…).
 */
export function refName(ref: string): string | undefined {
  const name = ref.startsWith('docker://') ? ref.slice('docker://'.length) : ref.replace(/^([a-z-]+):\/*/, '$1/');
  return REF_NAME.test(name) ? name : undefined;
}

/**
 * Records a plan's reference: its manifest, and now as its last use (and,
 * where the digest changed or it is new, as when it was pulled). Returns
 * whether it is new.
 */
export async function recordRef(
  store: Store,
  plan: { ref: string; platform: string; manifest: { digest: string; mediaType: string; data: Buffer }; index?: string; config: { data: Buffer }; layers: { size: number }[] },
  signal?: AbortSignal,
): Promise<boolean> {
  const now = new Date().toISOString();
  const size = plan.manifest.data.length + plan.config.data.length + plan.layers.reduce((n, l) => n + l.size, 0);
  let created = false;
  await updateRefs(
    store,
    (refs) => {
      const old = refs.find((r) => r.ref === plan.ref && r.platform === plan.platform);
      created = old === undefined;
      const next: RefRecord = {
        ref: plan.ref,
        platform: plan.platform,
        digest: plan.manifest.digest,
        ...(plan.index ? { index: plan.index } : {}),
        mediaType: plan.manifest.mediaType,
        manifestSize: plan.manifest.data.length,
        size,
        pulled: old && old.digest === plan.manifest.digest ? old.pulled : now,
        lastUsed: now,
      };
      return [...refs.filter((r) => r !== old), next];
    },
    signal,
  );
  return created;
}

/** Changes refs.json (and index.json with it) under the refs lock; returns the new records. */
export async function updateRefs(store: Store, change: (refs: RefRecord[]) => RefRecord[], signal?: AbortSignal): Promise<RefRecord[]> {
  const lock = await StoreLock.acquire(refsLockPath(store), 'ex', { wait: true, signal });
  try {
    const refs = change(readRefs(store));
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: refs.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.manifestSize,
        platform: platformObject(r.platform),
        annotations: { ...(refName(r.ref) ? { 'org.opencontainers.image.ref.name': refName(r.ref) } : {}), 'io.github.layercopy.reference': r.ref },
      })),
    };
    replaceFiles(store, [
      ['refs.json', `${JSON.stringify({ version: STORE_VERSION, refs } satisfies RefsFile, null, 1)}\n`],
      ['index.json', `${JSON.stringify(index, null, 1)}\n`],
    ]);
    return refs;
  } finally {
    lock?.release();
  }
}
