// Credential lookup from real auth files in a temp home, and real credential
// helpers: executable `docker-credential-*` scripts put on PATH through env.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LayercopyError } from '../../src/core/errors.js';
import { credentialsFor } from '../../src/registry/credentials.js';
import { scratch } from '../helpers.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const auth = (user: string, password: string) => ({ auth: b64(`${user}:${password}`) });

function searchable(dir: string): boolean {
  try {
    fs.accessSync(dir, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A home, a runtime dir and a bin dir for helpers, each empty; env reads only them (and the system PATH, for sh). */
function world() {
  const root = scratch();
  const home = path.join(root, 'home');
  const bin = path.join(root, 'bin');
  const run = path.join(root, 'run');
  for (const d of [home, bin, run]) fs.mkdirSync(d);
  // Only the directories this user may search: past one it may not (root's /root/... kept for another
  // user), a helper on none of them is EACCES, not ENOENT.
  const system = (process.env.PATH ?? '').split(':').filter((d) => searchable(d));
  const env: NodeJS.ProcessEnv = { PATH: [bin, ...system].join(':'), XDG_RUNTIME_DIR: run, LOG: path.join(root, 'helper.log') };
  const file = (rel: string, json: unknown) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, typeof json === 'string' ? json : JSON.stringify(json));
    return p;
  };
  /** docker-credential-NAME: logs the server URL it was asked (stdin) to $LOG, then runs `body`. */
  const helper = (name: string, body: string) => {
    const p = path.join(bin, `docker-credential-${name}`);
    fs.writeFileSync(p, `#!/bin/sh\n[ "$1" = get ] || exit 9\nurl=$(cat)\necho "$url" >> "$LOG"\n${body}\n`, { mode: 0o755 });
  };
  const asked = () => fs.readFileSync(env.LOG!, 'utf8').split('\n').filter(Boolean);
  return { root, home, env, file, helper, asked, lookup: (registry: string, opts: { creds?: string; authfile?: string } = {}) => credentialsFor(registry, { ...opts, env, home }) };
}

async function failure(p: Promise<unknown>): Promise<LayercopyError> {
  return p.then(
    () => {
      throw new Error('no error');
    },
    (e) => e as LayercopyError,
  );
}

describe('credentialsFor: --creds', () => {
  it('takes USER:PASSWORD before any file, a password keeping its colons', async () => {
    const w = world();
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('file', 'x') } });
    expect(await w.lookup('quay.io', { creds: 'me:pa:ss' })).toMatchObject({ username: 'me', password: 'pa:ss' });
  });

  it('says where each was found (--creds, an auth file, a helper), for the error when a registry refuses them', async () => {
    const w = world();
    w.helper('test', `printf '{"ServerURL":"%s","Username":"h","Secret":"s"}' "$url"`);
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('file', 'x') }, credHelpers: { 'ghcr.io': 'test' } });
    const file = path.join(w.home, '.docker/config.json');
    expect((await w.lookup('quay.io', { creds: 'me:pw' }))?.origin).toBe('--creds');
    expect((await w.lookup('quay.io'))?.origin).toBe(`auths in ${file}`);
    expect((await w.lookup('ghcr.io'))?.origin).toBe(`credHelpers in ${file} (docker-credential-test)`);
  });

  it('refuses a user without a password, saying it must be given', async () => {
    const e = await failure(world().lookup('quay.io', { creds: 'me' }));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: '--creds: the password must be given too, as USER:PASSWORD (layercopy does not prompt for it)' });
  });
});

describe('credentialsFor: auth files', () => {
  it('is undefined where no file has the registry', async () => {
    expect(await world().lookup('quay.io')).toBeUndefined();
  });

  it('reads $XDG_RUNTIME_DIR/containers/auth.json before the files in the home', async () => {
    const w = world();
    w.file('run/containers/auth.json', { auths: { 'quay.io': auth('runtime', 'x') } });
    w.file('home/.config/containers/auth.json', { auths: { 'quay.io': auth('config', 'x') } });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'runtime', password: 'x' });
  });

  it('reads ~/.config/containers/auth.json before ~/.docker/config.json', async () => {
    const w = world();
    w.file('home/.config/containers/auth.json', { auths: { 'quay.io': auth('config', 'x') } });
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('docker', 'x') } });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'config', password: 'x' });
  });

  it('passes a file without the registry on to the next', async () => {
    const w = world();
    w.file('run/containers/auth.json', { auths: { 'other.example': auth('other', 'x') } });
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('docker', 'x') } });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'docker', password: 'x' });
  });

  it('reads $DOCKER_CONFIG/config.json instead of ~/.docker/config.json', async () => {
    const w = world();
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('home', 'x') } });
    w.file('dockercfg/config.json', { auths: { 'quay.io': auth('env', 'x') } });
    w.env.DOCKER_CONFIG = path.join(w.root, 'dockercfg');
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'env', password: 'x' });
  });

  it('refuses an auths entry whose auth is not base64 (USER:PASSWORD written as it is): ERR_AUTH naming the file and the key', async () => {
    const w = world();
    const file = w.file('home/.docker/config.json', { auths: { 'quay.io': { auth: 'me:pa:ss' } } });
    const e = await failure(w.lookup('quay.io'));
    expect(e).toMatchObject({
      code: 'ERR_AUTH',
      path: file,
      message: `auth file ${file}: auths["quay.io"].auth is not base64: it holds base64 of USER:PASSWORD (printf %s USER:PASSWORD | base64 -w0)`,
    });
  });

  it('reads an auth wrapped as base64 wraps it (CR and LF skipped, as Go reads it)', async () => {
    const w = world();
    const password = 'p'.repeat(100);
    const wrapped = Buffer.from(`_json_key:${password}`).toString('base64').replace(/.{76}/g, '$&\r\n');
    w.file('home/.docker/config.json', { auths: { 'gcr.io': { auth: `${wrapped}\n` } } });
    expect(await w.lookup('gcr.io')).toMatchObject({ username: '_json_key', password });
  });

  it('reads ~/.dockercfg, the legacy auths map keyed by URLs', async () => {
    const w = world();
    w.file('home/.dockercfg', { 'https://quay.io/v1/': auth('legacy', 'x') });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'legacy', password: 'x' });
  });

  it('reads --authfile alone', async () => {
    const w = world();
    const named = w.file('mine.json', { auths: { 'other.example': auth('mine', 'x') } });
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('docker', 'x') } });
    expect(await w.lookup('quay.io', { authfile: named })).toBeUndefined();
  });

  it('reads $REGISTRY_AUTH_FILE alone', async () => {
    const w = world();
    w.env.REGISTRY_AUTH_FILE = w.file('env.json', { auths: { 'quay.io': auth('env', 'x') } });
    w.file('run/containers/auth.json', { auths: { 'quay.io': auth('runtime', 'x') } });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'env', password: 'x' });
  });

  it('refuses an --authfile that does not exist', async () => {
    expect(await failure(world().lookup('quay.io', { authfile: '/no/such/auth.json' }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: '--authfile /no/such/auth.json: no such file',
    });
  });

  it('refuses an auth file that is not JSON, naming it', async () => {
    const w = world();
    const file = w.file('home/.docker/config.json', '{"auths": ');
    const e = await failure(w.lookup('quay.io'));
    expect(e).toMatchObject({ code: 'ERR_AUTH', path: file });
    expect(e.message).toMatch(new RegExp(`^auth file ${file}: not valid JSON`));
  });

  it('takes the most specific of repository, namespace and registry entries', async () => {
    const w = world();
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('registry', 'x'), 'quay.io/team': auth('team', 'x'), 'quay.io/other/app': auth('other', 'x') } });
    expect(await w.lookup('quay.io/team/app')).toMatchObject({ username: 'team', password: 'x' });
  });

  it("finds Docker Hub's entry under https://index.docker.io/v1/, as docker login writes it", async () => {
    const w = world();
    w.file('home/.docker/config.json', { auths: { 'https://index.docker.io/v1/': auth('hub', 'x') } });
    expect(await w.lookup('docker.io')).toMatchObject({ username: 'hub', password: 'x' });
  });

  it('reads an identity token', async () => {
    const w = world();
    w.file('home/.docker/config.json', { auths: { 'quay.io': { auth: b64('me:'), identitytoken: 'refresh-me' } } });
    expect(await w.lookup('quay.io')).toMatchObject({ identityToken: 'refresh-me' });
  });
});

describe('credentialsFor: credential helpers', () => {
  const reply = (user: string, secret: string) => `printf '{"ServerURL":"%s","Username":"${user}","Secret":"${secret}"}' "$url"`;

  it('runs the credHelpers entry for the registry with the server on stdin, and takes its Username and Secret', async () => {
    const w = world();
    w.helper('test', reply('helped', 's3cret'));
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('file', 'x') }, credHelpers: { 'quay.io': 'test' } });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'helped', password: 's3cret' });
    expect(w.asked()).toEqual(['quay.io']);
  });

  it("reads a helper's <token> user as an identity token", async () => {
    const w = world();
    w.helper('test', reply('<token>', 'refresh'));
    w.file('home/.docker/config.json', { credHelpers: { 'quay.io': 'test' } });
    expect(await w.lookup('quay.io')).toMatchObject({ identityToken: 'refresh' });
  });

  it('passes on to the next file where the helper holds nothing', async () => {
    const w = world();
    w.helper('test', 'echo "credentials not found in native keychain"; exit 1');
    w.file('run/containers/auth.json', { credHelpers: { 'quay.io': 'test' } });
    w.file('home/.docker/config.json', { auths: { 'quay.io': auth('docker', 'x') } });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'docker', password: 'x' });
  });

  it('refuses a helper that is not on PATH, naming it and the file', async () => {
    const w = world();
    const file = w.file('home/.docker/config.json', { credHelpers: { 'quay.io': 'absent' } });
    const e = await failure(w.lookup('quay.io'));
    expect(e).toMatchObject({ code: 'ERR_AUTH' });
    expect(e.message).toBe(`credential helper docker-credential-absent (credHelpers in ${file}): not found on PATH: install it, or remove it from the auth file`);
  });

  it('refuses a helper that is not executable, naming it and the file, and saying why it could not run', async () => {
    const w = world();
    fs.writeFileSync(path.join(w.root, 'bin/docker-credential-noexec'), '#!/bin/sh\n', { mode: 0o644 });
    const file = w.file('home/.docker/config.json', { credHelpers: { 'quay.io': 'noexec' } });
    const e = await failure(w.lookup('quay.io'));
    expect(e).toMatchObject({ code: 'ERR_AUTH' });
    expect(e.message).toBe(
      `credential helper docker-credential-noexec (credHelpers in ${file}): not executable, or on PATH only past a directory this user may not search (EACCES): check its mode and PATH`,
    );
  });

  it('refuses a helper that fails, with what it said on stderr', async () => {
    const w = world();
    w.helper('test', 'echo "the keyring is locked" >&2; exit 3');
    w.file('home/.docker/config.json', { credHelpers: { 'quay.io': 'test' } });
    const e = await failure(w.lookup('quay.io'));
    expect(e).toMatchObject({ code: 'ERR_AUTH' });
    expect(e.message).toMatch(/docker-credential-test \(credHelpers in .*\): quay.io: failed \(exit status 3\): the keyring is locked$/);
  });

  it('runs credsStore where auths holds only an empty entry for the registry, as Docker writes it', async () => {
    const w = world();
    w.helper('test', reply('stored', 'x'));
    w.file('home/.docker/config.json', { auths: { 'quay.io': {} }, credsStore: 'test' });
    expect(await w.lookup('quay.io')).toMatchObject({ username: 'stored', password: 'x' });
  });

  it('asks a helper for Docker Hub as docker.io, then as https://index.docker.io/v1/', async () => {
    const w = world();
    w.helper('test', `[ "$url" = docker.io ] && { echo "credentials not found in native keychain"; exit 1; }\n${reply('hub', 'x')}`);
    w.file('home/.docker/config.json', { credsStore: 'test' });
    expect(await w.lookup('docker.io')).toMatchObject({ username: 'hub', password: 'x' });
    expect(w.asked()).toEqual(['docker.io', 'https://index.docker.io/v1/']);
  });
});
