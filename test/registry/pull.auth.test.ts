// docker:// behind the auth and TLS setups users have: Bearer tokens
// (anonymous, with credentials, expiring mid-pull), Basic (htpasswd), a
// credential helper, a private CA with a client certificate, and a blob
// store on another origin that must not see the registry's credentials.
import fs from 'node:fs';
import path from 'node:path';
import { rootCertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hasRegistry,
  missingRegistryTools,
  pushImage,
  type Registry,
  startBlobStore,
  startFaultProxy,
  startRegistry,
  startTokenServer,
  type TokenServer,
  testImage,
} from '../fixtures/registry.js';
import { scratch } from '../helpers.js';
import { isolated, pull } from './pull-helpers.js';

const why = hasRegistry ? '' : ` (skipped: ${missingRegistryTools.join(', ')} not on PATH)`;
const leftovers = (dir: string) => fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy'));

describe.skipIf(!hasRegistry)(`Bearer tokens${why}`, () => {
  let anonymous: { token: TokenServer; registry: Registry };
  let private_: { token: TokenServer; registry: Registry };
  let image: string;
  beforeAll(async () => {
    image = testImage(path.join(scratch(), 'img'), { layers: 3, sizeMb: 1, seed: 21 });
    const t1 = await startTokenServer();
    anonymous = { token: t1, registry: await startRegistry({ token: t1 }) };
    const t2 = await startTokenServer({ users: { alice: 'secret' } });
    private_ = { token: t2, registry: await startRegistry({ token: t2 }) };
    await pushImage(image, anonymous.registry, 'app/img:1');
    await pushImage(image, private_.registry, 'app/img:1', { creds: 'alice:secret' });
  });
  afterAll(async () => {
    for (const s of [anonymous?.registry, anonymous?.token, private_?.registry, private_?.token]) await s?.stop();
  });

  it('anonymous: a pull token for the repository, asked without credentials', async () => {
    const before = anonymous.token.issued().length;
    const r = await pull(['--tls-verify=false', `docker://${anonymous.registry.host}/app/img:1`, path.join(scratch(), 'root')]);
    expect(r.status, r.stderr).toBe(0);
    expect(anonymous.token.issued().slice(before)).toEqual([{ scope: 'repository:app/img:pull', basic: false }]);
  });

  it('with --creds: the token asked with Basic credentials; without them ERR_AUTH naming the registry and repository, exit 1', async () => {
    const dir = scratch();
    const denied = await pull(['--tls-verify=false', `docker://${private_.registry.host}/app/img:1`, path.join(dir, 'root')]);
    expect(denied.status).toBe(1);
    expect(denied.json.error).toMatchObject({ code: 'ERR_AUTH' });
    expect(denied.json.error?.message).toContain(`${private_.registry.host}/app/img`);
    expect(denied.json.error?.message).toMatch(
      /gives no token without credentials, and none were found for the registry \(--creds USER:PASS, --authfile FILE, or an auth file: docs\/cli.md, "Credentials"\)$/,
    );
    const wrong = await pull(['--tls-verify=false', '--creds', 'alice:nope', `docker://${private_.registry.host}/app/img:1`, path.join(dir, 'root')]);
    expect(wrong.json.error?.message).toMatch(/the token server http:\/\/127\.0\.0\.1:\d+ refused the credentials from --creds$/);
    expect(leftovers(dir)).toEqual([]);
    const before = private_.token.issued().length;
    const ok = await pull(['--tls-verify=false', '--creds', 'alice:secret', `docker://${private_.registry.host}/app/img:1`, path.join(dir, 'root')]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(
      private_.token
        .issued()
        .slice(before)
        .every((t) => t.basic),
    ).toBe(true);
  });

  it('a token that expires mid-pull is asked for again (a later blob answered 401)', async () => {
    // One download at a time over a 512 KiB/s link (3 blobs of 1 MB: the last asked for ~4 s in): the later blobs are asked
    // for after the first token has expired. Its claims count whole seconds, so a 1 s token may live ~0 s, and a loaded
    // machine then lost the manifest request too: 3 s gives it 2-3 s.
    const proxy = await startFaultProxy(anonymous.registry.url, { rateBytesPerSec: 1 << 19 });
    try {
      anonymous.token.setExpiry(3);
      const before = anonymous.token.issued().length;
      const r = await pull(['--tls-verify=false', '--max-downloads', '1', `docker://${proxy.host}/app/img:1`, path.join(scratch(), 'root')]);
      expect(r.status, r.stderr).toBe(0);
      expect(proxy.requests().some((q) => q.status === 401 && q.path.includes('/blobs/'))).toBe(true);
      expect(anonymous.token.issued().length - before).toBeGreaterThanOrEqual(2);
    } finally {
      anonymous.token.setExpiry(300);
      await proxy.stop();
    }
  });
});

describe.skipIf(!hasRegistry)(`Basic auth (htpasswd) and credential helpers${why}`, () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { user: 'bob', password: 'pw' } });
    await pushImage(testImage(path.join(scratch(), 'img'), { layers: 2, sizeMb: 0.5, seed: 22 }), registry, 'team/app:2', { creds: 'bob:pw' });
  });
  afterAll(() => registry?.stop());

  it('--creds USER:PASS answers the Basic challenge; a wrong password is ERR_AUTH', async () => {
    const ok = await pull(['--tls-verify=false', '--creds', 'bob:pw', `docker://${registry.host}/team/app:2`, path.join(scratch(), 'root')]);
    expect(ok.status, ok.stderr).toBe(0);
    const bad = await pull(['--tls-verify=false', '--creds', 'bob:nope', `docker://${registry.host}/team/app:2`, path.join(scratch(), 'root')]);
    expect(bad.json.error?.code).toBe('ERR_AUTH');
    expect(bad.json.error?.message).toMatch(/HTTP 401 Unauthorized: the registry refused the credentials from --creds$/);
    const none = await pull(['--tls-verify=false', `docker://${registry.host}/team/app:2`, path.join(scratch(), 'root')]);
    expect(none.json.error?.message).toMatch(
      /HTTP 401: the registry asks for a user name and password, and none were found for it \(--creds USER:PASS, --authfile FILE, or an auth file: docs\/cli.md, "Credentials"\)$/,
    );
  });

  it('a credential helper named in the auth file (credHelpers) is run for the registry', async () => {
    const bin = scratch();
    const helper = path.join(bin, 'docker-credential-test');
    fs.writeFileSync(helper, `#!/bin/sh\nread server\necho "$server" >> "${bin}/asked"\necho '{"ServerURL":"'$server'","Username":"bob","Secret":"pw"}'\n`, { mode: 0o755 });
    const env = isolated({ PATH: `${bin}:${process.env.PATH}` });
    fs.writeFileSync(env.REGISTRY_AUTH_FILE, JSON.stringify({ credHelpers: { [registry.host]: 'test' } }));
    const r = await pull(['--tls-verify=false', `docker://${registry.host}/team/app:2`, path.join(scratch(), 'root')], env);
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(bin, 'asked'), 'utf8')).toContain(registry.host);
  });

  it('a blob redirected to another origin gets no Authorization header there', async () => {
    const store = await startBlobStore(registry);
    const proxy = await startFaultProxy(registry.url, { redirectBlobsTo: store.url });
    try {
      const r = await pull(['--tls-verify=false', '--creds', 'bob:pw', `docker://${proxy.host}/team/app:2`, path.join(scratch(), 'root')]);
      expect(r.status, r.stderr).toBe(0);
      expect(store.requests().length).toBeGreaterThan(0);
      expect(store.requests().filter((q) => q.authorization)).toEqual([]);
      expect(proxy.requests().some((q) => q.authorization)).toBe(true);
    } finally {
      await proxy.stop();
      await store.stop();
    }
  });
});

describe.skipIf(!hasRegistry)(`TLS${why}`, () => {
  let tls: Registry;
  let mutual: Registry;
  beforeAll(async () => {
    const image = testImage(path.join(scratch(), 'img'), { layers: 1, sizeMb: 0.5, seed: 23 });
    tls = await startRegistry({ tls: true });
    mutual = await startRegistry({ clientAuth: true });
    await pushImage(image, tls, 'app:1');
    await pushImage(image, mutual, 'app:1');
  });
  afterAll(async () => {
    await tls?.stop();
    await mutual?.stop();
  });

  it('a private CA and a client certificate from --cert-dir', async () => {
    const r = await pull(['--cert-dir', mutual.certDir!, `docker://${mutual.host}/app:1`, path.join(scratch(), 'root')]);
    expect(r.status, r.stderr).toBe(0);
  });

  it.each([[[]], [['--tls-verify=false']]])('a registry that wants a client certificate, given only its CA (%j): the error says so, and names certs.d/HOST:PORT', async (flags) => {
    const caOnly = path.join(scratch(), 'ca-only');
    fs.mkdirSync(caOnly);
    fs.copyFileSync(path.join(mutual.certDir!, 'ca.crt'), path.join(caOnly, 'ca.crt'));
    const r = await pull([...flags, '--cert-dir', caOnly, `docker://${mutual.host}/app:1`, path.join(scratch(), 'root')]);
    expect(r.status).toBe(1);
    // Not retried over plain HTTP where TLS may be skipped: that answer (a 400) would hide the server's alert.
    expect(r.json.error?.message).toMatch(
      new RegExp(`_ALERT_\\w+ \\(the registry asks for a client certificate it trusts: NAME\\.cert and NAME\\.key in --cert-dir or /etc/containers/certs\\.d/${mutual.host}/\\)`),
    );
  });

  it("without the CA: ERR_REGISTRY saying where the registry's CA goes, exit 1", async () => {
    const dir = scratch();
    const r = await pull([`docker://${tls.host}/app:1`, path.join(dir, 'root')]);
    expect(r.status).toBe(1);
    expect(r.json.error?.code).toBe('ERR_REGISTRY');
    expect(r.json.error?.message).toMatch(/--cert-dir/);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a private CA in NODE_EXTRA_CA_CERTS, through the layercopy command (which defers the file to the first connection)', async () => {
    const ca = path.join(tls.certDir!, 'ca.crt');
    const r = await pull([`docker://${tls.host}/app:1`, path.join(scratch(), 'root')], isolated({ NODE_EXTRA_CA_CERTS: ca }), { viaCommand: true });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    // And with a client certificate from --cert-dir beside it.
    const certs = path.join(scratch(), 'client-only');
    fs.mkdirSync(certs);
    for (const name of fs.readdirSync(mutual.certDir!).filter((n) => !n.endsWith('.crt'))) fs.copyFileSync(path.join(mutual.certDir!, name), path.join(certs, name));
    const both = await pull(['--cert-dir', certs, `docker://${mutual.host}/app:1`, path.join(scratch(), 'root')], isolated({ NODE_EXTRA_CA_CERTS: ca }), { viaCommand: true });
    expect(both.status, both.stderr).toBe(0);
  });

  it("NODE_EXTRA_CA_CERTS through the command keeps the CAs Node trusts of itself: OpenSSL's store with --use-openssl-ca", async () => {
    // The registry's CA in OpenSSL's store (SSL_CERT_FILE), another CA in NODE_EXTRA_CA_CERTS.
    const other = path.join(scratch(), 'other-ca.pem');
    fs.writeFileSync(other, rootCertificates[0]);
    const env = isolated({ NODE_OPTIONS: '--use-openssl-ca', SSL_CERT_FILE: path.join(tls.certDir!, 'ca.crt'), NODE_EXTRA_CA_CERTS: other });
    const direct = await pull([`docker://${tls.host}/app:1`, path.join(scratch(), 'root')], env);
    expect(direct.status, direct.stderr).toBe(0);
    const r = await pull([`docker://${tls.host}/app:1`, path.join(scratch(), 'root')], env, { viaCommand: true });
    expect(r.status, r.stderr).toBe(0);
  });

  it('NODE_EXTRA_CA_CERTS with node cli.js, where --cert-dir holds a CA too: both trusted, as through the command', async () => {
    const certs = path.join(scratch(), 'other-ca');
    fs.mkdirSync(certs);
    fs.writeFileSync(path.join(certs, 'other.crt'), rootCertificates[0]);
    const env = isolated({ NODE_EXTRA_CA_CERTS: path.join(tls.certDir!, 'ca.crt') });
    for (const viaCommand of [false, true]) {
      const r = await pull(['--cert-dir', certs, `docker://${tls.host}/app:1`, path.join(scratch(), 'root')], env, { viaCommand });
      expect(r.status, `${viaCommand}: ${r.stderr}`).toBe(0);
    }
  });

  it('a NODE_EXTRA_CA_CERTS that cannot be read is warned of, as Node does, and the pull goes on', async () => {
    const missing = path.join(scratch(), 'none.pem');
    const r = await pull(['--cert-dir', tls.certDir!, `docker://${tls.host}/app:1`, path.join(scratch(), 'root')], isolated({ NODE_EXTRA_CA_CERTS: missing }), {
      viaCommand: true,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Warning: Ignoring extra certs from \`${missing}\`, load failed: ENOENT`);
  });

  it('--tls-verify=false accepts a certificate no CA vouches for', async () => {
    const r = await pull(['--tls-verify=false', `docker://${tls.host}/app:1`, path.join(scratch(), 'root')]);
    expect(r.status, r.stderr).toBe(0);
  });
});
