// registries.conf (v2) read from real files in temp directories: which files,
// how drop-ins merge, what is refused, and where a reference is pulled from.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRegistriesConf, pullSources, type RegistriesConf } from '../../src/registry/config.js';
import { parseDockerReference } from '../../src/registry/reference.js';
import { failure, scratch } from '../helpers.js';

const hex = 'b'.repeat(64);

function write(file: string, text: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** A home and a system file that do not exist, so only what a test writes is read. */
function places() {
  const dir = scratch();
  return { home: path.join(dir, 'home'), systemFile: path.join(dir, 'etc/containers/registries.conf'), env: {} as NodeJS.ProcessEnv, dir };
}

/** The configuration of one file named by $CONTAINERS_REGISTRIES_CONF. */
function conf(text: string): RegistriesConf {
  const p = places();
  const file = write(path.join(p.dir, 'registries.conf'), text);
  return loadRegistriesConf({ ...p, env: { CONTAINERS_REGISTRIES_CONF: file } });
}

const sources = (c: RegistriesConf, given: string) => pullSources(c, parseDockerReference(given, 0));

describe('loadRegistriesConf: which files', () => {
  it('is empty where no file exists', () => {
    expect(loadRegistriesConf(places())).toEqual({ registries: [], files: [] });
  });

  it('reads the system file where the user has none', () => {
    const p = places();
    write(p.systemFile, '[[registry]]\nlocation = "quay.io"\ninsecure = true\n');
    expect(loadRegistriesConf(p)).toMatchObject({ registries: [{ prefix: 'quay.io', insecure: true }], files: [p.systemFile] });
  });

  it("reads the user's file instead of the system file where it exists", () => {
    const p = places();
    write(p.systemFile, '[[registry]]\nlocation = "system.example"\n');
    const user = write(path.join(p.home, '.config/containers/registries.conf'), '[[registry]]\nlocation = "user.example"\n');
    expect(loadRegistriesConf(p)).toMatchObject({ registries: [{ prefix: 'user.example' }], files: [user] });
  });

  it('reads $CONTAINERS_REGISTRIES_CONF alone, not the drop-ins beside it or the user file', () => {
    const p = places();
    const file = write(path.join(p.dir, 'mine.conf'), '[[registry]]\nlocation = "env.example"\n');
    write(path.join(p.dir, 'mine.conf.d/a.conf'), '[[registry]]\nlocation = "dropin.example"\n');
    write(path.join(p.home, '.config/containers/registries.conf'), '[[registry]]\nlocation = "user.example"\n');
    expect(loadRegistriesConf({ ...p, env: { CONTAINERS_REGISTRIES_CONF: file } })).toEqual({
      registries: [{ prefix: 'env.example', location: 'env.example', insecure: false, blocked: false, mirrors: [] }],
      files: [file],
    });
  });

  it('refuses a $CONTAINERS_REGISTRIES_CONF that does not exist, naming it', () => {
    const p = places();
    const e = failure(() => loadRegistriesConf({ ...p, env: { CONTAINERS_REGISTRIES_CONF: '/no/such/registries.conf' } }));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: '$CONTAINERS_REGISTRIES_CONF names /no/such/registries.conf, which does not exist' });
  });

  it('merges the *.conf drop-ins in name order, a later table replacing an earlier one of the same prefix', () => {
    const p = places();
    write(p.systemFile, '[[registry]]\nprefix = "docker.io"\nlocation = "docker.io"\n[[registry]]\nlocation = "keep.example"\n');
    const d = `${p.systemFile}.d`;
    write(path.join(d, '10-a.conf'), '[[registry]]\nprefix = "docker.io"\nlocation = "first.example"\n');
    write(path.join(d, '20-b.conf'), '[[registry]]\nprefix = "docker.io"\nlocation = "second.example"\n');
    write(path.join(d, '30-c.conf.disabled'), '[[registry]]\nprefix = "docker.io"\nlocation = "ignored.example"\n');
    write(path.join(d, 'sub.conf/x.conf'), '[[registry]]\nprefix = "docker.io"\nlocation = "ignored.example"\n');
    const c = loadRegistriesConf(p);
    expect(c.registries.map((r) => [r.prefix, r.location])).toEqual([
      ['docker.io', 'second.example'],
      ['keep.example', 'keep.example'],
    ]);
    expect(c.files).toEqual([p.systemFile, path.join(d, '10-a.conf'), path.join(d, '20-b.conf')]);
  });

  it("reads the user's drop-ins after the system's where the system file is the one read", () => {
    const p = places();
    write(`${p.systemFile}.d/a.conf`, '[[registry]]\nprefix = "quay.io"\nlocation = "system.example"\n');
    write(path.join(p.home, '.config/containers/registries.conf.d/a.conf'), '[[registry]]\nprefix = "quay.io"\nlocation = "user.example"\n');
    expect(loadRegistriesConf(p).registries).toMatchObject([{ prefix: 'quay.io', location: 'user.example' }]);
  });
});

describe('loadRegistriesConf: tables', () => {
  it('takes the location as the prefix where no prefix is set, without trailing slashes', () => {
    expect(conf('[[registry]]\nlocation = "Quay.IO/team/"\n').registries[0]).toMatchObject({ prefix: 'quay.io/team', location: 'Quay.IO/team' });
  });

  it('lists the tables sorted by prefix', () => {
    expect(conf('[[registry]]\nlocation = "z.example"\n[[registry]]\nlocation = "a.example"\n').registries.map((r) => r.prefix)).toEqual(['a.example', 'z.example']);
  });

  it('keeps the first of two tables with one prefix in one file', () => {
    const c = conf('[[registry]]\nprefix = "quay.io"\nlocation = "first.example"\n[[registry]]\nprefix = "quay.io"\nlocation = "second.example"\n');
    expect(c.registries).toMatchObject([{ prefix: 'quay.io', location: 'first.example' }]);
  });

  it("reads the registry's mirror-by-digest-only as digest-only on each mirror", () => {
    const c = conf('[[registry]]\nlocation = "a.example"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.example"\n');
    expect(c.registries[0].mirrors).toEqual([{ location: 'm.example', insecure: false, pullFromMirror: 'digest-only' }]);
  });

  it('refuses TOML that does not parse, naming the file, line and column', () => {
    const p = places();
    const file = write(path.join(p.dir, 'bad.conf'), '[[registry]]\nlocation = "a.example"\n[[registry.mirror]\n');
    const e = failure(() => loadRegistriesConf({ ...p, env: { CONTAINERS_REGISTRIES_CONF: file } }));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', path: file });
    expect(e.message).toBe(`${file}:3:19: not valid TOML: expected end of table array declaration`);
  });

  it('refuses the v1 format, saying to write [[registry]] tables', () => {
    expect(failure(() => conf('[registries.search]\nregistries = ["docker.io"]\n')).message).toMatch(/v1 format, which layercopy does not read: write \[\[registry\]\] tables/);
  });

  it('refuses a location with a URI scheme', () => {
    expect(failure(() => conf('[[registry]]\nlocation = "https://quay.io"\n')).message).toMatch(/URI schemes are not supported/);
  });

  it('refuses a value of the wrong type, naming the table', () => {
    expect(failure(() => conf('[[registry]]\nlocation = "a.example"\ninsecure = "yes"\n')).message).toMatch(
      /\[\[registry\]\] #1 \(prefix "a.example"\): insecure must be true or false/,
    );
  });

  it('refuses an unknown pull-from-mirror value', () => {
    expect(failure(() => conf('[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\nlocation = "m.example"\npull-from-mirror = "sometimes"\n')).message).toMatch(
      /pull-from-mirror is "sometimes"; it is one of all, digest-only, tag-only/,
    );
  });

  it('refuses a prefix without a location unless it is a wildcard', () => {
    expect(failure(() => conf('[[registry]]\nprefix = "a.example"\n')).message).toMatch(/location is unset/);
    expect(conf('[[registry]]\nprefix = "*.example.com"\n').registries[0]).toMatchObject({ prefix: '*.example.com', location: '' });
  });

  it('refuses one registry defined twice with different insecure settings', () => {
    expect(failure(() => conf('[[registry]]\nprefix = "a.example/x"\nlocation = "a.example"\n[[registry]]\nlocation = "a.example"\ninsecure = true\n')).message).toMatch(
      /registry "a.example" is defined more than once with different "insecure" settings/,
    );
  });
});

describe('pullSources', () => {
  it('is the registry alone, Docker Hub at registry-1.docker.io, where no prefix matches', () => {
    expect(sources(conf(''), 'docker://alpine')).toEqual([{ host: 'registry-1.docker.io', repository: 'library/alpine', insecure: false, mirror: false }]);
  });

  it('is the mirrors in order, each with ?ns= the registry, then the registry', () => {
    const c = conf(
      '[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "127.0.0.1:30020"\ninsecure = true\n[[registry.mirror]]\nlocation = "cache.example/hub"\n',
    );
    expect(sources(c, 'docker://alpine:3.20')).toEqual([
      { host: '127.0.0.1:30020', repository: 'library/alpine', insecure: true, mirror: true, ns: 'docker.io' },
      { host: 'cache.example', repository: 'hub/library/alpine', insecure: false, mirror: true, ns: 'docker.io' },
      { host: 'registry-1.docker.io', repository: 'library/alpine', insecure: false, mirror: false },
    ]);
  });

  it('uses the longest matching prefix', () => {
    const c = conf('[[registry]]\nlocation = "quay.io"\n[[registry]]\nprefix = "quay.io/team"\nlocation = "team.example"\n');
    expect(sources(c, 'docker://quay.io/team/app')[0]).toMatchObject({ host: 'team.example', repository: 'app' });
  });

  it('uses the longest matching prefix whatever the order of the tables', () => {
    const entry = (prefix: string, location: string) => ({ prefix, location, insecure: false, blocked: false, mirrors: [] });
    const c = { registries: [entry('quay.io/team', 'team.example'), entry('quay.io', 'quay.io')], files: [] };
    expect(sources(c, 'docker://quay.io/team/app')[0]).toMatchObject({ host: 'team.example', repository: 'app' });
  });

  it('matches a prefix at a path boundary only', () => {
    const c = conf('[[registry]]\nprefix = "quay.io/team"\nlocation = "team.example"\n');
    expect(sources(c, 'docker://quay.io/teams/app')).toEqual([{ host: 'quay.io', repository: 'teams/app', insecure: false, mirror: false }]);
  });

  it('rewrites the matched prefix to the location', () => {
    const c = conf('[[registry]]\nprefix = "quay.io/team"\nlocation = "localhost:5000/mirrors/quay"\ninsecure = true\n');
    expect(sources(c, 'docker://quay.io/team/app/web:v1')).toEqual([{ host: 'localhost:5000', repository: 'mirrors/quay/app/web', insecure: true, mirror: false }]);
  });

  it('skips a digest-only mirror for a reference by tag and uses it for one by digest', () => {
    const c = conf('[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "m.example"\npull-from-mirror = "digest-only"\n');
    expect(sources(c, 'docker://alpine:3.20').map((s) => s.host)).toEqual(['registry-1.docker.io']);
    expect(sources(c, `docker://alpine:3.20@sha256:${hex}`).map((s) => s.host)).toEqual(['m.example', 'registry-1.docker.io']);
  });

  it('skips a tag-only mirror for a reference by digest', () => {
    const c = conf('[[registry]]\nlocation = "docker.io"\n[[registry.mirror]]\nlocation = "m.example"\npull-from-mirror = "tag-only"\n');
    expect(sources(c, `docker://alpine@sha256:${hex}`).map((s) => s.host)).toEqual(['registry-1.docker.io']);
  });

  it('refuses a blocked registry, naming the argument, its position, the prefix and the files read', () => {
    const c = conf('[[registry]]\nlocation = "quay.io"\nblocked = true\n');
    const e = failure(() => pullSources(c, parseDockerReference('docker://quay.io/x/y', 1), 1));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', layer: 'docker://quay.io/x/y', layerIndex: 1 });
    expect(e.message).toBe(`layer 2 (docker://quay.io/x/y): quay.io/x/y:latest is blocked by registries.conf prefix "quay.io" (read: ${c.files[0]})`);
  });

  it('matches a wildcard prefix to hosts under its domain, and pulls from the host named where it has no location', () => {
    const c = conf('[[registry]]\nprefix = "*.example.com"\ninsecure = true\n');
    expect(sources(c, 'docker://a.example.com:5000/app')).toEqual([{ host: 'a.example.com:5000', repository: 'app', insecure: true, mirror: false }]);
    expect(sources(c, 'docker://example.com/app')[0].insecure).toBe(false);
  });

  it("rewrites a wildcard prefix's whole host to its location", () => {
    const c = conf('[[registry]]\nprefix = "*.example.com"\nlocation = "mirror.local"\n');
    expect(sources(c, 'docker://registry.example.com/app')[0]).toMatchObject({ host: 'mirror.local', repository: 'app' });
  });

  it('refuses a location that names no registry host', () => {
    const c = conf('[[registry]]\nprefix = "docker.io"\nlocation = "mirror"\n');
    expect(failure(() => sources(c, 'docker://alpine')).message).toMatch(
      /rewrites docker.io\/library\/alpine to "mirror\/library\/alpine" \(location "mirror"\), which names no registry/,
    );
  });
});
