import { sha256 } from '../core/digest.js';
import { LayercopyError } from '../core/errors.js';
import type { Platform } from '../core/options.js';
import { type Fail, imageConfig, jsonObject, listField, listOf, shortList, text } from './image-json.js';
import type { TarLayer } from './layer.js';
import { readMember, scanTar } from './members.js';
import { otherPlatform, type SeenImage } from './oci.js';

// docker-archive: what `docker save` and `skopeo copy … docker-archive:`
// write: an uncompressed tar holding manifest.json, each image's config and
// its layer tars (which may themselves be compressed). Members are found by
// reading the archive's headers only; each layer then streams straight out
// of the archive file by offset, never copied out of it.

interface ManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** docker-archive:FILE[:NAME:TAG] (or :@N, the Nth image) to its layers, lowest first; an image whose config names another platform is refused. */
export function resolveDockerArchive(arg: string, sel: { file: string; reference?: string }, platform: Platform, seen?: SeenImage): TarLayer[] {
  const label = arg;
  const fail = (message: string, code: 'ERR_INVALID_IMAGE' | 'ERR_IMAGE_NOT_FOUND' | 'ERR_DIGEST_MISMATCH' = 'ERR_INVALID_IMAGE') =>
    new LayercopyError(`${label}: ${message}`, { code, path: sel.file });
  const members = scanTar(sel.file, label);
  const manifestMember = members.get('manifest.json');
  if (!manifestMember) throw fail('not a docker-archive (no manifest.json)');
  const manifest = listOf(JSON.parse(readMember(sel.file, manifestMember).toString('utf8')), 'manifest.json', fail, manifestEntry);
  const tags = (e: ManifestEntry) => e.RepoTags ?? [];
  // docker.io/library/ is the short names' long form.
  const short = (t: string) => t.replace(/^docker\.io\/(library\/)?/, '');
  const listing = () =>
    shortList(
      manifest.map((e, i) => (tags(e).length > 0 ? `${shortList(tags(e))} (@${i})` : `@${i} (untagged)`)),
      '; ',
    ) || 'nothing';
  let entry: ManifestEntry | undefined;
  if (sel.reference?.startsWith('@')) entry = manifest[Number(sel.reference.slice(1))];
  else if (sel.reference !== undefined) entry = manifest.find((e) => tags(e).some((t) => t === sel.reference || short(t) === short(sel.reference!)));
  else if (manifest.length === 1) entry = manifest[0];
  else throw fail(`holds several images; name one (docker-archive:${sel.file}:NAME:TAG): ${listing()}`, 'ERR_IMAGE_NOT_FOUND');
  if (!entry) throw fail(`no image '${sel.reference}'; the archive holds: ${listing()}`, 'ERR_IMAGE_NOT_FOUND');
  const configMember = members.get(entry.Config);
  if (!configMember) throw fail(`config ${entry.Config} is not in the archive`);
  const configData = readMember(sel.file, configMember);
  const configDigest = sha256(configData);
  // Named by its digest (blobs/sha256/HEX, or HEX.json as older docker save writes it, HEX the image ID): checked against it, before it is read.
  const named = /(?:^|\/)sha256\/([0-9a-f]{64})$|^([0-9a-f]{64})\.json$/.exec(entry.Config);
  const hex = named?.[1] ?? named?.[2];
  if (hex && configDigest !== `sha256:${hex}`) throw fail(`config ${entry.Config} does not match its digest: got ${configDigest}`, 'ERR_DIGEST_MISMATCH');
  // No manifest in a docker-archive: a store makes one (src/store/).
  if (seen) seen.config = { digest: configDigest, mediaType: 'application/vnd.oci.image.config.v1+json', data: configData };
  let parsed: unknown;
  try {
    parsed = JSON.parse(configData.toString('utf8'));
  } catch (error) {
    throw fail(`config ${entry.Config} is not JSON (${(error as Error).message})`);
  }
  const config = imageConfig(parsed, `config ${entry.Config}`, fail);
  const mismatch = otherPlatform(config, platform);
  if (mismatch) throw fail(mismatch, 'ERR_IMAGE_NOT_FOUND');
  const diffIds = config.diffIds;
  if (diffIds.length !== entry.Layers.length) throw fail(`the config lists ${diffIds.length} diff_ids for ${entry.Layers.length} layers`);
  return entry.Layers.map((name, i) => {
    const m = members.get(name);
    if (!m) throw fail(`layer ${name} is not in the archive`);
    // A layer stored under its digest (blobs/sha256/HEX, as newer docker save writes) is checked against it.
    const hex = /(?:^|\/)sha256\/([0-9a-f]{64})$/.exec(name)?.[1];
    return {
      file: sel.file,
      start: m.offset,
      size: m.size,
      digest: hex ? `sha256:${hex}` : undefined,
      diffId: diffIds[i],
      label: `${arg} layer ${i + 1}/${entry!.Layers.length} (${name})`,
    };
  });
}

/** An entry of manifest.json: Config and Layers named by strings, RepoTags a list of them (or null). */
function manifestEntry(value: unknown, what: string, fail: Fail): ManifestEntry {
  const e = jsonObject(value, what, fail);
  if (e.Layers === undefined) throw fail(`${what} has no Layers`);
  return { Config: text(e.Config, `${what}: Config`, fail), RepoTags: listField(e, 'RepoTags', what, fail, text), Layers: listOf(e.Layers, `${what}: Layers`, fail, text) };
}
