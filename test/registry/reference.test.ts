// docker:// references normalized as distribution/reference's
// ParseNormalizedNamed (what skopeo's docker:// reads), and refused with
// messages that name the layer argument.
import { describe, expect, it } from 'vitest';
import { LayercopyError } from '../../src/core/errors.js';
import { apiHost, parseDockerReference, showReference } from '../../src/registry/reference.js';

const hex = 'a'.repeat(64);
const parse = (given: string) => parseDockerReference(given, 0);
const failure = (given: string, index = 0) => {
  try {
    parseDockerReference(given, index);
  } catch (e) {
    return e as LayercopyError;
  }
  throw new Error(`${given} parsed`);
};

describe('parseDockerReference: normalization', () => {
  it('reads a one-component name as docker.io/library/NAME:latest', () => {
    expect(parse('docker://alpine')).toEqual({ registry: 'docker.io', repository: 'library/alpine', tag: 'latest', given: 'docker://alpine' });
  });

  it('reads a two-component name without a dot, colon or localhost as a Docker Hub repository', () => {
    expect(parse('docker://bitnami/redis:7.2')).toMatchObject({ registry: 'docker.io', repository: 'bitnami/redis', tag: '7.2' });
  });

  it('reads a first component with a dot as the registry, without adding library/', () => {
    expect(parse('docker://quay.io/podman/stable')).toMatchObject({ registry: 'quay.io', repository: 'podman/stable', tag: 'latest' });
  });

  it('reads a first component with a port as the registry, the tag after the last colon', () => {
    expect(parse('docker://127.0.0.1:5000/app/web:v1')).toMatchObject({ registry: '127.0.0.1:5000', repository: 'app/web', tag: 'v1' });
  });

  it('reads localhost as a registry', () => {
    expect(parse('docker://localhost/app')).toMatchObject({ registry: 'localhost', repository: 'app' });
  });

  it('reads index.docker.io as docker.io, and adds library/ there', () => {
    expect(parse('docker://index.docker.io/alpine')).toMatchObject({ registry: 'docker.io', repository: 'library/alpine' });
  });

  it('lowercases the registry host', () => {
    expect(parse('docker://Registry.Example.COM:443/team/app')).toMatchObject({ registry: 'registry.example.com:443', repository: 'team/app' });
  });

  it('takes a digest without a default tag', () => {
    const ref = parse(`docker://alpine@sha256:${hex}`);
    expect(ref.digest).toBe(`sha256:${hex}`);
    expect(ref.tag).toBeUndefined();
  });

  it('keeps both a tag and a digest where both are given', () => {
    expect(parse(`docker://alpine:3.20@sha256:${hex}`)).toMatchObject({ tag: '3.20', digest: `sha256:${hex}` });
  });

  it('reads a bracketed IPv6 registry', () => {
    expect(parse('docker://[::1]:5000/app')).toMatchObject({ registry: '[::1]:5000', repository: 'app' });
  });
});

describe('parseDockerReference: refusals', () => {
  it('refuses uppercase in the repository, naming the layer argument and its position', () => {
    const e = failure('docker://Bad/Name', 2);
    expect(e).toBeInstanceOf(LayercopyError);
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', layer: 'docker://Bad/Name', layerIndex: 2 });
    expect(e.message).toBe('layer 3 (docker://Bad/Name): repository name must be lowercase ("Bad/Name")');
  });

  it('refuses a repository component that breaks the grammar', () => {
    expect(failure('docker://quay.io/a-/b').message).toMatch(/invalid repository name "a-\/b"/);
  });

  it('refuses an empty component', () => {
    expect(failure('docker://quay.io/a//b').code).toBe('ERR_INVALID_ARGUMENT');
  });

  it('refuses a tag longer than 128 characters', () => {
    expect(failure(`docker://alpine:${'t'.repeat(129)}`).message).toMatch(/invalid tag/);
  });

  it('refuses a tag starting with a dot', () => {
    expect(failure('docker://alpine:.x').message).toMatch(/invalid tag "\.x"/);
  });

  it('refuses a digest that is not sha256 with 64 lowercase hex digits', () => {
    expect(failure(`docker://alpine@sha256:${'A'.repeat(64)}`).message).toMatch(/invalid digest/);
    expect(failure(`docker://alpine@sha512:${'a'.repeat(128)}`).message).toMatch(/invalid digest/);
  });

  it('refuses an image ID given as a name', () => {
    expect(failure(`docker://${hex}`).message).toMatch(/is an image ID/);
  });

  it('refuses an empty reference, giving the form', () => {
    expect(failure('docker://').message).toMatch(/needs a repository: docker:\/\/\[HOST\[:PORT\]\/\]REPOSITORY/);
  });

  it('refuses a name over 255 characters', () => {
    expect(failure(`docker://quay.io/${'a'.repeat(250)}`).message).toMatch(/not be more than 255/);
  });

  it('refuses a URL pasted in (docker://http://…), giving the reference without its scheme and, for http, --tls-verify=false', () => {
    expect(failure('docker://http://127.0.0.1:5000/app:1').message).toBe(
      'layer 1 (docker://http://127.0.0.1:5000/app:1): a reference names no scheme: docker://127.0.0.1:5000/app:1, with --tls-verify=false for a registry that speaks plain HTTP',
    );
    expect(failure('docker://https://quay.io/app').message).toBe('layer 1 (docker://https://quay.io/app): a reference names no scheme: docker://quay.io/app');
  });

  it('refuses a registry that is no host name', () => {
    expect(failure('docker://bad_host.io/app').message).toMatch(/invalid registry "bad_host.io"/);
  });
});

describe('apiHost and showReference', () => {
  it('serves docker.io at registry-1.docker.io and any other registry at itself', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });

  it('shows the reference in full', () => {
    expect(showReference(parse('docker://alpine'))).toBe('docker.io/library/alpine:latest');
    expect(showReference(parse(`docker://alpine@sha256:${hex}`))).toBe(`docker.io/library/alpine@sha256:${hex}`);
  });
});
