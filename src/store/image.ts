import fs from 'node:fs';
import { LayercopyError, type LayerSource } from '../core/errors.js';
import type { Platform, PullPolicy } from '../core/options.js';
import { readHead, sniffCompression } from '../images/decompress.js';

import { layerLabel, MANIFEST, type SeenImage, showPlatform } from '../images/oci.js';
import type { LayerArgument } from '../images/reference.js';
import { resolveImage } from '../images/resolve.js';
import type { PulledLayer, PullOptions } from '../registry/pull.js';
import { copyFrom, hasBlob, hashRange, pinSmallBlob, readSmallBlob, sha256 } from './blobs.js';
import { layerPath, type OwnerMode, refLockPath, type Store } from './layout.js';
import { StoreLock } from './lock.js';
import { dockerKey, readRefs, recordRef } from './refs.js';

// An image reference to what the store needs of it: the manifest and config
// (to keep), and each layer's digests and where its blob comes from when
// the store lacks it. A reference the store holds is read from the store
// alone (no request to any registry) unless the pull policy says always.

export interface WantedLayer {
  digest: string;
  size: number;
  diffId: string;
  label: string;
  source: LayerSource;
  /** Writes the blob into the spool file an extraction follows (a registry's download, or a copy out of a local image). */
  fetch?: PulledLayer['download'];
}

interface Blob {
  digest: string;
  mediaType: string;
  data: Buffer;
}

export interface ImagePlan {
  /** The key of refs.json: the reference normalized (refKey). */
  ref: string;
  platform: string;
  manifest: Blob;
  config: Blob;
  /** The index the reference named (a registry's tag of a multi-platform image), which rmi also finds the reference by. */
  index?: string;
  layers: WantedLayer[];
  /** Asked of a registry: who served the manifest, and the mirrors passed over. */
  from?: SeenImage['from'];
  /** Read from the store alone. */
  fromStore: boolean;
  /** Its reference was recorded by this plan, new (dropped again if the pull fails). */
  created: boolean;
  /** Held while this process fills the reference's missing layers; released by the caller. */
  refLock?: StoreLock;
  /** Shared locks on the manifest and config blobs (prune passes them over); the caller releases them. */
  pins: StoreLock[];
  close(): Promise<void>;
}

type ImageArgument = Exclude<LayerArgument, { kind: 'path' }>;

/**
 * The reference as refs.json keeps it: docker:// normalized (dockerKey:
 * `app` is `app:latest`), validated before the store is looked at; a local
 * image with its path absolute (the parser made it so).
 */
export function refKey(arg: ImageArgument, argument: number | string = 0): string {
  if (arg.kind === 'docker') return dockerKey(arg.reference, argument);
  const file = arg.kind === 'oci' ? arg.layout : arg.file;
  const sel = 'digest' in arg && arg.digest ? `@${arg.digest}` : arg.reference !== undefined ? `:${arg.reference}` : '';
  return `${arg.kind}:${file}${sel}`;
}

/**
 * The image at its source or in the store, as the policy says; its
 * manifest and config written to the store and pinned, and its reference
 * recorded (before its layers: prune keeps what it holds). Unless every
 * layer is extracted already, one process at a time fills a reference: it
 * holds locks/ref-… (the plan's refLock) until its layers are in place,
 * and the others wait for it, then find them — no second request to the
 * registry, no layer built twice.
 */
export async function planImage(
  store: Store,
  given: string,
  argIndex: number,
  arg: ImageArgument,
  opts: { policy: PullPolicy; platform: Platform; pull?: PullOptions; onWait?: (ms: number) => void; mode: OwnerMode },
): Promise<ImagePlan> {
  const ref = refKey(arg, argIndex);
  const platform = showPlatform(opts.platform);
  const signal = opts.pull?.signal;
  if (opts.policy === 'always') return await fromSource(store, ref, platform, given, argIndex, arg, opts);
  const notHeld = () =>
    new LayercopyError(`layer ${argIndex + 1} (${given}): not in the store for ${platform} (--pull never)`, {
      code: 'ERR_IMAGE_NOT_FOUND',
      layer: given,
      layerIndex: argIndex,
    });
  const held = await fromStore(store, ref, platform, given, argIndex, signal);
  // Every layer extracted, every blob there: the warm path, no lock taken.
  if (held?.layers.every((l) => fs.existsSync(layerPath(store, l.diffId, opts.mode)) && hasBlob(store, l.digest))) return held;
  if (!held && opts.policy === 'never') throw notHeld();
  for (const pin of held?.pins ?? []) pin.release();
  const lock = (await StoreLock.acquire(refLockPath(store, ref, platform), 'ex', { wait: true, signal, onWait: opts.onWait }))!;
  try {
    const again = await fromStore(store, ref, platform, given, argIndex, signal);
    if (!again && opts.policy === 'never') throw notHeld();
    const plan = again ?? (await fromSource(store, ref, platform, given, argIndex, arg, opts));
    plan.refLock = lock;
    return plan;
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function fromSource(
  store: Store,
  ref: string,
  platform: string,
  given: string,
  argIndex: number,
  arg: ImageArgument,
  opts: { platform: Platform; pull?: PullOptions },
): Promise<ImagePlan> {
  const source = arg.kind === 'docker' ? await fromRegistry(given, argIndex, opts) : await fromLocal(given, argIndex, arg, opts.platform);
  const pins: StoreLock[] = [];
  try {
    pins.push(await pinSmallBlob(store, source.manifest.digest, source.manifest.data, opts.pull?.signal));
    pins.push(await pinSmallBlob(store, source.config.digest, source.config.data, opts.pull?.signal));
    const plan: ImagePlan = { ref, platform, ...source, fromStore: false, pins, created: false };
    plan.created = await recordRef(store, plan, opts.pull?.signal);
    return plan;
  } catch (error) {
    for (const pin of pins) pin.release();
    await source.close();
    throw error;
  }
}

async function fromStore(store: Store, ref: string, platform: string, given: string, argIndex: number, signal?: AbortSignal): Promise<ImagePlan | undefined> {
  const record = readRefs(store).find((r) => r.ref === ref && r.platform === platform);
  if (!record) return undefined;
  const pins: StoreLock[] = [];
  const read = async (digest: string) => {
    pins.push(await pinSmallBlob(store, digest, undefined, signal));
    return readSmallBlob(store, digest);
  };
  try {
    // Pinned first, then read: a prune between refs.json and here leaves it missing, which reads as not held.
    const manifestData = await read(record.digest);
    const manifest = manifestData && (JSON.parse(manifestData.toString('utf8')) as { config?: { digest: string; mediaType: string }; layers?: { digest: string; size: number }[] });
    const configData = manifest?.config && (await read(manifest.config.digest));
    const diffIds = configData && (JSON.parse(configData.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids;
    if (!manifestData || !manifest?.config || !Array.isArray(manifest.layers) || !configData || diffIds?.length !== manifest.layers.length) {
      for (const pin of pins) pin.release();
      return undefined;
    }
    const n = manifest.layers.length;
    return {
      ref,
      platform,
      manifest: { digest: record.digest, mediaType: record.mediaType, data: manifestData },
      ...(record.index ? { index: record.index } : {}),
      config: { digest: manifest.config.digest, mediaType: manifest.config.mediaType, data: configData },
      layers: manifest.layers.map((d, i) => ({
        digest: d.digest,
        size: d.size,
        diffId: diffIds[i],
        label: layerLabel(given, i, n, d.digest),
        source: { arg: given, argIndex, digest: d.digest, diffId: diffIds[i] },
      })),
      fromStore: true,
      created: false,
      pins,
      close: async () => {},
    };
  } catch (error) {
    for (const pin of pins) pin.release();
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

type Source = Pick<ImagePlan, 'manifest' | 'config' | 'index' | 'layers' | 'from' | 'close'>;

async function fromRegistry(given: string, argIndex: number, opts: { platform: Platform; pull?: PullOptions }): Promise<Source> {
  const { resolveDocker } = await import('../registry/pull.js');
  const pulled = await resolveDocker(given, argIndex, opts.platform, opts.pull);
  const { manifest, config } = pulled.image;
  if (!manifest || !config) {
    await pulled.close();
    throw new LayercopyError(`${given}: the registry's manifest or config was not kept`, { code: 'ERR_STORE', layer: given, layerIndex: argIndex });
  }
  return {
    manifest,
    config,
    ...(pulled.image.index ? { index: pulled.image.index } : {}),
    ...(pulled.image.from ? { from: pulled.image.from } : {}),
    layers: pulled.layers.map(({ tar, source, download }) => ({ digest: tar.digest!, size: tar.size!, diffId: tar.diffId!, label: tar.label, source, fetch: download })),
    close: pulled.close,
  };
}

const LAYER_MEDIA = { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' };

async function fromLocal(given: string, argIndex: number, arg: Exclude<ImageArgument, { kind: 'docker' }>, platform: Platform): Promise<Source> {
  const seen: SeenImage = {};
  const tars = resolveImage(given, argIndex, arg, platform, seen);
  const layers: (WantedLayer & { mediaType: string })[] = [];
  for (const { tar, source } of tars) {
    const start = tar.start ?? 0;
    const size = tar.size ?? fs.statSync(tar.file).size - start;
    // A docker-archive's legacy layer (ID/layer.tar) has no digest but its bytes.
    const digest = tar.digest ?? (await hashRange(tar.file, start, size));
    const kind = sniffCompression(readHead(tar.file, start));
    const mediaType = LAYER_MEDIA[kind as keyof typeof LAYER_MEDIA] ?? LAYER_MEDIA.none;
    layers.push({ digest, size, diffId: tar.diffId!, label: tar.label, source: { ...source, digest }, fetch: copyFrom(tar.file, start, size), mediaType });
  }
  const config = seen.config!;
  // A docker-archive has no manifest: the store writes the OCI manifest its layers and config make.
  const manifest =
    seen.manifest ??
    (() => {
      const data = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MANIFEST[0],
          config: { mediaType: config.mediaType, digest: config.digest, size: config.data.length },
          layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        }),
      );
      return { digest: sha256(data), mediaType: MANIFEST[0], data };
    })();
  return { manifest, config, layers, close: async () => {} };
}
