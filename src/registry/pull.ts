import type { FileHandle } from 'node:fs/promises';
import type { LayerSource } from '../core/errors.js';
import type { Platform } from '../core/options.js';
import { firstOf } from '../images/image-json.js';
import type { TarLayer } from '../images/layer.js';
import { RegistryClient } from './client.js';
import { loadRegistriesConf, type PullSource, pullSources } from './config.js';
import { type Credentials, credentialsFor } from './credentials.js';
import { blobRequest, downloadBlob } from './download.js';
import { requestEarly } from './download-order.js';
import type { HttpResponse, RetryPolicy } from './http.js';
import { type RemoteImage, type RemoteLayer, resolveRemote } from './image.js';
import { parseDockerReference } from './reference.js';
import { type TlsConfig, tlsFor } from './tls.js';

/** How to reach registries (docker://): the CLI's --creds, --authfile, --cert-dir, --tls-verify. */
export interface PullOptions {
  /** 'USER:PASS' for the registry (else the auth files, docs/cli.md). */
  creds?: string;
  /** The auth file to read, and only it. */
  authfile?: string;
  /** A directory of CAs (*.crt) and client pairs (*.cert, *.key), in place of /etc/containers/certs.d/HOST. */
  certDir?: string;
  /** false: plain HTTP and unverified TLS for this provision. Default true. */
  tlsVerify?: boolean;
  /** How long a mirror may take to answer before it is passed over (options.registry.mirrorTimeoutMs). */
  mirrorTimeoutMs?: number;
  retry?: RetryPolicy;
  signal?: AbortSignal;
  /**
   * The first N downloads' blob requests (in the order startDownloads
   * starts them) sent as soon as the manifest is read, beside the config's
   * request: for a provision that downloads every layer, or a store's pull
   * (with aheadWanted). 0: none.
   */
  requestAhead?: number;
  /** Which blobs requestAhead may ask for, each once (a store's: those it lacks). Default: every layer's. */
  aheadWanted?: (digest: string) => boolean;
}

/** A layer of a registry's image: what it is, and how its blob is fetched into a spool file (progress: src/images/follow.ts). */
export interface PulledLayer {
  tar: TarLayer;
  source: LayerSource;
  download(out: FileHandle, progress: BigInt64Array, onBytes?: (bytes: number) => void): Promise<void>;
  /** Sends the blob's request now; download() reads its answer (src/registry/download-order.ts, requestEarly). */
  request(): void;
  /**
   * The blob's GET as another program would send it (the bench's download
   * floor): its last byte is asked for first, so that the source serving
   * it is found as a download finds it (a mirror that lacks it passed over,
   * the auth answered); then RegistryClient.prepared.
   */
  prepared(): Promise<{ url: string; authorization?: string; tls: TlsConfig }>;
}

/**
 * docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST] to its layers, lowest first:
 * the reference normalized (docker.io, library/), its sources in order
 * (registries.conf's mirrors, then the registry), credentials and TLS per
 * host, the manifest chosen for `platform` and checked.
 */
export async function resolveDocker(
  given: string,
  argIndex: number,
  platform: Platform,
  opts: PullOptions = {},
): Promise<{ layers: PulledLayer[]; image: RemoteImage; close(): Promise<void> }> {
  const ref = parseDockerReference(given, argIndex);
  // The downloads' queue (src/registry/spool.ts), loaded while the registry answers: loaded after the config, its
  // import held the blob requests back (40-100 ms of wall at a load of 6 from node_modules; bundled now, 2-8 ms).
  import('p-queue').catch(() => undefined);
  const sources = pullSources(loadRegistriesConf(), ref);
  // Looked up once per host, when a challenge asks: a registry's most specific entry (REGISTRY/REPOSITORY first), a mirror's own.
  const found = new Map<string, Promise<Credentials | undefined>>();
  const credentials = (source: PullSource) => {
    const key = source.mirror ? source.host : `${ref.registry}/${ref.repository}`;
    if (!found.has(key)) found.set(key, credentialsFor(key, { creds: opts.creds, authfile: opts.authfile }));
    return found.get(key)!;
  };
  // The registry's own, asked for now: a bad --creds or auth file fails before any request.
  await credentials(sources[sources.length - 1]);
  const insecure = new Map(sources.map((s) => [s.host, s.insecure]));
  const fields = { layer: given, layerIndex: argIndex };
  const client = new RegistryClient(sources, {
    credentials,
    tls: (host) => tlsFor(host, { certDir: opts.certDir, tlsVerify: opts.tlsVerify, insecure: insecure.get(host) ?? false }),
    retry: opts.retry,
    mirrorTimeoutMs: opts.mirrorTimeoutMs,
    signal: opts.signal,
    label: given,
    fields,
  });
  try {
    const image: RemoteImage = {};
    const pulled = (found: RemoteLayer[]): PulledLayer[] =>
      found.map(({ tar, source }) => {
        let early: Promise<HttpResponse> | undefined;
        return {
          tar,
          source,
          request: () => {
            early ??= blobRequest(client, tar);
            // Its failure is the download's first attempt's; a provision that fails before it starts closes the client.
            early.catch(() => undefined);
          },
          prepared: async () => {
            await (await blobRequest(client, tar, Math.max(0, (tar.size ?? 1) - 1))).cancel();
            return client.prepared(`blobs/${tar.digest}`);
          },
          download: (out, progress, onBytes) => {
            const first = early;
            early = undefined;
            return downloadBlob(client, tar, out, progress, { label: given, fields, onBytes, first });
          },
        };
      });
    let layers: PulledLayer[] | undefined;
    const found = await resolveRemote(given, argIndex, ref, platform, client, {
      seen: image,
      ahead: (known) => {
        layers = pulled(known);
        const wanted = opts.aheadWanted;
        // A store fetches a blob once however many layers name it: asked for ahead once too (an answer no download takes waits unread).
        if (opts.requestAhead) requestEarly(wanted ? firstOf(layers, (l) => l.tar.digest!).filter((l) => wanted(l.tar.digest!)) : layers, opts.requestAhead);
      },
    });
    return { image, layers: layers ?? pulled(found), close: () => client.close() };
  } catch (error) {
    await client.close();
    throw error;
  }
}
