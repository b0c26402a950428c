import { LayercopyError } from '../core/errors.js';

/**
 * A `docker://` LAYER argument, normalized as distribution/reference's
 * ParseNormalizedNamed does (what skopeo's and podman's `docker://` read):
 * `docker://alpine` is `docker.io/library/alpine:latest`.
 */
export interface DockerReference {
  /** The registry as users name it, normalized: 'docker.io' for Docker Hub, else host[:port] lowercased. */
  registry: string;
  /** The repository path: 'library/alpine' for docker.io short names. */
  repository: string;
  /** 'latest' when neither tag nor digest is given. */
  tag?: string;
  /** 'sha256:<64 hex>'; where a tag is given too, the digest is what is pulled (the tag is kept for display). */
  digest?: string;
  /** The argument as typed ('docker://alpine'). */
  given: string;
}

const DOCKER_HUB = 'docker.io';
// `docker login` and old configurations name Docker Hub so; it is the same registry.
const LEGACY_DOCKER_HUB = 'index.docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const NAME_TOTAL_LENGTH_MAX = 255;

// distribution/reference's grammar (regexp.go), anchored.
const NAME_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
// A bare image ID is refused as a name, as docker and skopeo refuse it: it would be read as docker.io/library/<hex>.
const IDENTIFIER = /^[a-f0-9]{64}$/;

/**
 * Parses `docker://[HOST[:PORT]/]REPO[:TAG][@sha256:HEX]`. The first path
 * component is a registry only where it holds a '.' or a ':' or is
 * 'localhost'; otherwise the registry is docker.io, where a one-component
 * name gets 'library/'. Short-name aliases and unqualified-search-registries
 * of registries.conf are not read (skopeo's `docker://` does not read them).
 * A problem is named by `argument`: a provision's layer index
 * ("layer 2 (docker://…): …"), or the command that took it ("pull
 * (docker://…): …").
 */
export function parseDockerReference(given: string, argument: number | string): DockerReference {
  const fail = (what: string) =>
    new LayercopyError(`${typeof argument === 'number' ? `layer ${argument + 1}` : argument} (${given}): ${what}`, {
      code: 'ERR_INVALID_ARGUMENT',
      layer: given,
      ...(typeof argument === 'number' ? { layerIndex: argument } : {}),
    });
  const FORM = 'docker://[HOST[:PORT]/]REPOSITORY[:TAG|@sha256:DIGEST]';
  if (!given.startsWith('docker://')) throw fail(`not a docker:// reference: ${FORM}`);
  const rest = given.slice('docker://'.length);
  if (rest === '') throw fail(`a docker:// reference needs a repository: ${FORM}`);
  // docker://http://host/app: a URL pasted in. Its scheme would read as a registry named "http:".
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(rest);
  if (scheme) {
    const plain = scheme[1].toLowerCase() === 'http' ? ', with --tls-verify=false for a registry that speaks plain HTTP' : '';
    throw fail(`a reference names no scheme: docker://${rest.slice(scheme[0].length)}${plain}`);
  }

  // The name holds no '@': the first one starts the digest.
  const at = rest.indexOf('@');
  const digest = at < 0 ? undefined : rest.slice(at + 1);
  const nameAndTag = at < 0 ? rest : rest.slice(0, at);
  if (digest !== undefined && !DIGEST.test(digest)) {
    throw fail(`invalid digest "${digest}": layercopy reads sha256:<64 lowercase hex digits>`);
  }
  // A tag follows the last ':' after the last '/' (a ':' before a '/' is a port).
  const colon = nameAndTag.lastIndexOf(':');
  const hasTag = colon > nameAndTag.lastIndexOf('/');
  const name = hasTag ? nameAndTag.slice(0, colon) : nameAndTag;
  const tag = hasTag ? nameAndTag.slice(colon + 1) : undefined;
  if (tag !== undefined && !TAG.test(tag)) throw fail(`invalid tag "${tag}": at most 128 of [A-Za-z0-9_.-], not starting with '.' or '-'`);
  if (IDENTIFIER.test(name)) throw fail(`"${name}" is an image ID, not a repository name: name the image by its repository (and @sha256:${name} for this digest)`);

  const named = normalizeName(name);
  if ('problem' in named) throw fail(named.problem);
  const ref: DockerReference = { registry: named.registry, repository: named.repository, given };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/**
 * A repository name, `[HOST[:PORT]/]PATH`, normalized (docker.io and
 * library/ where no registry is named; the host lowercased), or why it is
 * none (the reason reads after "layer N (ARG): ").
 */
export function normalizeName(name: string): { registry: string; repository: string } | { problem: string } {
  const { registry, repository } = splitRegistry(name);
  if (!DOMAIN.test(registry)) return { problem: `invalid registry "${registry}": HOST[:PORT]` };
  if (repository !== repository.toLowerCase()) return { problem: `repository name must be lowercase ("${repository}")` };
  if (repository.split('/').some((c) => !NAME_COMPONENT.test(c))) {
    return { problem: `invalid repository name "${repository}": each /-separated component is lowercase letters and digits, joined by '.', '_', '__' or dashes` };
  }
  const host = registry.toLowerCase() === LEGACY_DOCKER_HUB ? DOCKER_HUB : registry.toLowerCase();
  const path = host === DOCKER_HUB && !repository.includes('/') ? `library/${repository}` : repository;
  if (host.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) return { problem: `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters` };
  return { registry: host, repository: path };
}

/** The first component is a registry where it holds '.' or ':' or is 'localhost' (splitDockerDomain). */
function splitRegistry(name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost')) return { registry: DOCKER_HUB, repository: name };
  return { registry: first, repository: name.slice(slash + 1) };
}

/**
 * Whether a path that does not exist reads as `HOST[:PORT]/REPO[:TAG]`, as
 * docker and podman take an image: its first component has a dot or a
 * port, or is localhost. Then a `docker://` was most likely left out.
 */
export function looksLikeRegistryImage(given: string): boolean {
  return /^(localhost|[^/:.]+(\.[^/:.]+)+|[^/:.]+:\d+)(:\d+)?\/[^/]/.test(given);
}

/** The host[:port] that serves a registry's API: Docker Hub's is registry-1.docker.io. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** The reference in full, for messages: 'docker.io/library/alpine:latest', '…@sha256:…', or both where both were given. */
export function showReference(ref: DockerReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}
