import { descriptorMismatch, digestLike, sha256 } from '../core/digest.js';
import { LayercopyError, type LayerSource } from '../core/errors.js';
import type { Platform } from '../core/options.js';
import { imageConfig, jsonObject, manifestParts, manifestsOf, shortList, shownJson } from '../images/image-json.js';
import type { TarLayer } from '../images/layer.js';
import { type Descriptor, INDEX, LAYER_TYPES, layerLabel, MANIFEST, matches, notAnImage, otherPlatform, type SeenImage, showPlatform } from '../images/oci.js';
import { JSON_LIMIT } from '../images/regular.js';
import type { RegistryClient } from './client.js';
import { type DockerReference, showReference } from './reference.js';
import type { HttpResponse } from './transport.js';
import { getWhole } from './whole.js';

// An image in a registry to its layers: the manifest by content
// negotiation (OCI index and manifest, Docker manifest list and schema 2;
// schema 1 refused), the platform chosen as for oci:, every manifest and
// config checked against its digest.

const SCHEMA1 = ['application/vnd.docker.distribution.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v1+prettyjws'];
const ACCEPT = [...INDEX, ...MANIFEST, ...SCHEMA1].join(', ');

export interface RemoteLayer {
  tar: TarLayer;
  source: LayerSource;
}

/** The manifest chosen and its config, as the registry sent them (checked): what a store keeps (src/store/). */
export type RemoteImage = SeenImage;

/** A manifest's or config's bytes and the response's headers (getWhole: a cut body tried again); no data for a 404, its response let go. */
async function readSmall(
  client: RegistryClient,
  path: string,
  init: { accept?: string; what: string },
  fail: (m: string) => LayercopyError,
): Promise<{ data?: Buffer; headers: HttpResponse['headers']; response: HttpResponse }> {
  const { response, data } = await getWhole(client, path, init, JSON_LIMIT, () => fail(`${init.what} is larger than ${JSON_LIMIT} bytes`));
  if (data === undefined) await response.cancel();
  return { data, headers: response.headers, response };
}

/**
 * Resolves a docker:// reference to its layers, lowest first, each a
 * TarLayer whose blob is yet to be downloaded (file set by the caller).
 */
export async function resolveRemote(
  given: string,
  argIndex: number,
  ref: DockerReference,
  platform: Platform,
  client: RegistryClient,
  opts: { seen?: RemoteImage; ahead?: (layers: RemoteLayer[]) => void } = {},
): Promise<RemoteLayer[]> {
  const { seen } = opts;
  const fields = { layer: given, layerIndex: argIndex };
  const fail = (message: string, code: 'ERR_INVALID_IMAGE' | 'ERR_IMAGE_NOT_FOUND' | 'ERR_DIGEST_MISMATCH' | 'ERR_REGISTRY' = 'ERR_INVALID_IMAGE') =>
    new LayercopyError(`${given}: ${message}`, { code, ...fields });

  /** A manifest by tag or digest, checked: by its digest, or by the registry's Docker-Content-Digest for a tag. */
  const manifest = async (reference: string, expected?: Descriptor) => {
    // "manifest 1" read as a count where the tag is 1: a tag is named as one.
    const byDigest = reference.startsWith('sha256:');
    const what = byDigest ? `manifest ${reference}` : `the manifest of tag '${reference}'`;
    const { data, headers } = await readSmall(client, `manifests/${reference}`, { accept: ACCEPT, what }, fail);
    if (data === undefined) {
      const none = byDigest ? `the registry has no manifest ${reference}` : await missingTag(client, ref.repository, reference);
      // The reference as normalized, where it says more than the one given (docker://alpine: docker.io/library/alpine:latest).
      const shown = `docker://${showReference(ref)}` === given ? '' : `${showReference(ref)}: `;
      throw fail(`${shown}no such image (${none})`, 'ERR_IMAGE_NOT_FOUND');
    }
    const digest = sha256(data);
    const want = expected?.digest ?? (reference.startsWith('sha256:') ? reference : (headers.get('docker-content-digest') ?? undefined));
    const got = want === undefined ? digest : digestLike(data, want);
    if (want !== undefined && got !== want) throw fail(`${what} does not match its digest: expected ${want}, got ${got}`, 'ERR_DIGEST_MISMATCH');
    if (expected && data.length !== expected.size) throw fail(`${what} is ${data.length} bytes, its descriptor says ${expected.size}`, 'ERR_DIGEST_MISMATCH');
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.toString('utf8'));
    } catch (error) {
      throw fail(`${what} is not JSON (${(error as Error).message})`);
    }
    const json = jsonObject(parsed, what, fail) as { mediaType?: string; schemaVersion?: number; manifests?: unknown };
    const type = json.mediaType ?? headers.get('content-type')?.split(';')[0].trim() ?? '';
    if (json.schemaVersion === 1 || SCHEMA1.includes(type)) {
      throw fail(`${what} is a Docker schema 1 manifest, which layercopy does not read (deprecated since 2017: push the image again with a current client)`);
    }
    return { json, type, digest, size: data.length, data, what };
  };

  let current = await manifest(ref.digest ?? ref.tag ?? 'latest');
  if (seen && (INDEX.includes(current.type) || Array.isArray(current.json.manifests))) seen.index = current.digest;
  let indexPlatform: Platform | undefined;
  // An index (nested ones too) is narrowed down to this platform's manifest.
  for (let depth = 0; INDEX.includes(current.type) || Array.isArray(current.json.manifests); depth++) {
    if (depth >= 8) throw fail('image indexes nested too deep');
    const candidates = manifestsOf<Descriptor>(current.json, current.what, fail).filter((d) => MANIFEST.includes(d.mediaType) || INDEX.includes(d.mediaType));
    const chosen = candidates.find((d) => matches(d.platform, platform)) ?? (candidates.length === 1 && !candidates[0].platform ? candidates[0] : undefined);
    if (!chosen) {
      throw fail(
        `no image for ${showPlatform(platform)}; there are: ${shortList([...new Set(candidates.map((d) => showPlatform(d.platform)))]) || 'none'} (choose with --platform)`,
        'ERR_IMAGE_NOT_FOUND',
      );
    }
    indexPlatform = chosen.platform;
    current = await manifest(chosen.digest, chosen);
  }
  const m = manifestParts<Descriptor>(current.json, current.what, fail);
  if (!m) throw fail(`manifest ${current.digest} has no config or layers`);
  const artifact = notAnImage(current.digest, m.config);
  if (artifact) throw fail(artifact);
  const layers: RemoteLayer[] = m.layers.map((d, i) => {
    if (!LAYER_TYPES.includes(d.mediaType)) throw fail(`layer ${i + 1}: unsupported media type ${shownJson(d.mediaType)} (supported: tar, tar+gzip, tar+zstd)`);
    if (!/^sha256:[0-9a-f]{64}$/.test(d.digest)) throw fail(`layer ${i + 1}: unsupported or malformed digest '${d.digest}' (sha256 only)`);
    return {
      tar: { file: '', digest: d.digest, size: d.size, mediaType: d.mediaType, label: layerLabel(given, i, m.layers.length, d.digest) },
      source: { arg: given, argIndex, digest: d.digest },
    };
  });
  let configFrom: HttpResponse | undefined;
  const configRead = blobJson(client, m.config, fail, (data, response) => {
    configFrom = response;
    if (seen) seen.config = { digest: m.config.digest, mediaType: m.config.mediaType, data };
  });
  // The blobs' requests may go out now, after the config's (the provision waits on it): each diff_id is filled in below, before any layer is trusted.
  opts.ahead?.(layers);
  const config = await configRead;
  if (seen) seen.manifest = { digest: current.digest, mediaType: current.type, data: current.data };
  if (seen && indexPlatform) seen.platform = indexPlatform;
  if (seen) seen.from = client.servedBy(configFrom);
  // An index's entry said its platform; a lone manifest says it in its config.
  const mismatch = indexPlatform === undefined ? otherPlatform(config, platform) : undefined;
  if (mismatch) throw fail(mismatch, 'ERR_IMAGE_NOT_FOUND');
  const { diffIds } = config;
  if (diffIds.length !== m.layers.length) throw fail(`the config lists ${diffIds.length} diff_ids for ${m.layers.length} layers`);
  for (const [i, layer] of layers.entries()) {
    layer.tar.diffId = diffIds[i];
    layer.source.diffId = diffIds[i];
  }
  return layers;
}

type Config = ReturnType<typeof imageConfig>;

/** The config blob, whole, checked against its descriptor. */
async function blobJson(
  client: RegistryClient,
  d: Descriptor,
  fail: (m: string, code?: 'ERR_DIGEST_MISMATCH' | 'ERR_IMAGE_NOT_FOUND') => LayercopyError,
  keep?: (data: Buffer, response: HttpResponse) => void,
): Promise<Config> {
  const what = `config ${d.digest}`;
  const { data, response } = await readSmall(client, `blobs/${d.digest}`, { what }, fail);
  if (data === undefined) throw fail(`${what}: blob not found`, 'ERR_IMAGE_NOT_FOUND');
  const mismatch = descriptorMismatch(data, d);
  if (mismatch) throw fail(`${what} does not match its descriptor: ${mismatch}`, 'ERR_DIGEST_MISMATCH');
  keep?.(data, response);
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch (error) {
    throw fail(`${what} is not JSON (${(error as Error).message})`);
  }
  return imageConfig(parsed, what, fail);
}

/**
 * Why a tag's manifest is not there: the repository is not (a manifest's
 * 404 says MANIFEST_UNKNOWN either way in distribution 2.8; its tag list
 * says NAME_UNKNOWN), or the tag is not, with the tags it has. Asked only
 * after the 404; a failure to ask says what is known.
 */
async function missingTag(client: RegistryClient, repository: string, tag: string): Promise<string> {
  const plain = `the registry has no tag '${tag}' in ${repository}`;
  try {
    const response = await client.get('tags/list', { what: 'the tag list' });
    if (response.status === 404) {
      await response.cancel();
      return `the registry has no repository ${repository}`;
    }
    const tags = ((await response.json(JSON_LIMIT)) as { tags?: unknown } | null)?.tags;
    if (!Array.isArray(tags) || tags.length === 0) return plain;
    // Quoted as the tag asked for is: a bare "it has 1" reads as a count.
    const shown = tags
      .slice(0, 10)
      .map((t) => `'${String(t)}'`)
      .join(', ');
    return `${plain}; it has ${tags.length > 10 ? `${tags.length} tags: ${shown}, …` : `${shown}`}`;
  } catch {
    return plain;
  }
}
