// containers-certs.d(5) read from real directories: CAs (*.crt), the client
// pair (NAME.cert + NAME.key) made with openssl, --cert-dir, and what
// --tls-verify and registries.conf's insecure decide.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { MOVED_CA, restoreCommandEnv } from '../../src/core/command-env.js';
import { secureContext, tlsFor } from '../../src/registry/tls.js';
import { failure, scratch } from '../helpers.js';

let pem: { ca: string; cert: string; key: string };

beforeAll(() => {
  const dir = scratch();
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-subj', '/CN=test CA', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2');
  run('req', ...ec, '-subj', '/CN=client', '-keyout', 'client.key', '-out', 'client.csr');
  run('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.cert', '-days', '2');
  const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
  pem = { ca: read('ca.crt'), cert: read('client.cert'), key: read('client.key') };
});

/** A certs.d root with HOST/ holding the files given (name -> PEM). */
function certsD(host: string, files: Record<string, string>): string {
  const root = scratch();
  fs.mkdirSync(path.join(root, host));
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(root, host, name), text);
  return root;
}

describe('tlsFor: files', () => {
  it('has no files and verifies where no directory exists for the host', () => {
    expect(tlsFor('quay.io', { systemDirs: [scratch()] })).toEqual({ verify: true, allowHttp: false, files: [] });
  });

  it("a host of '.' or '..' (a redirect to https://../x) has no directory: certs.d's parent is not read", () => {
    const parent = scratch();
    const certsd = path.join(parent, 'certs.d');
    fs.mkdirSync(certsd);
    fs.writeFileSync(path.join(parent, 'stray.key'), 'not a key');
    for (const host of ['..', '.']) expect(tlsFor(host, { systemDirs: [certsd] })).toEqual({ verify: true, allowHttp: false, files: [] });
  });

  it('reads *.crt files as extra CAs, in name order', () => {
    const root = certsD('127.0.0.1:5000', { 'b.crt': pem.ca, 'a.crt': `${pem.ca}\n` });
    const config = tlsFor('127.0.0.1:5000', { systemDirs: [root] });
    expect(config.ca).toEqual([`${pem.ca}\n`, pem.ca]);
    expect(config.files).toEqual([path.join(root, '127.0.0.1:5000/a.crt'), path.join(root, '127.0.0.1:5000/b.crt')]);
  });

  it('reads a NAME.cert and NAME.key pair as the client certificate', () => {
    const root = certsD('reg.example', { 'client.cert': pem.cert, 'client.key': pem.key });
    expect(tlsFor('reg.example', { systemDirs: [root] })).toMatchObject({ cert: pem.cert, key: pem.key });
  });

  it("returns PEM that Node's TLS takes, the CAs after the system's", () => {
    const root = certsD('reg.example', { 'ca.crt': pem.ca, 'client.cert': pem.cert, 'client.key': pem.key });
    const config = tlsFor('reg.example', { systemDirs: [root] });
    expect(() => tls.createSecureContext({ ca: [...tls.rootCertificates, ...(config.ca ?? [])], cert: config.cert, key: config.key })).not.toThrow();
  });

  it('refuses a client certificate without its key, naming both files', () => {
    const root = certsD('reg.example', { 'client.cert': pem.cert });
    const e = failure(() => tlsFor('reg.example', { systemDirs: [root] }));
    expect(e).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', path: path.join(root, 'reg.example') });
    expect(e.message).toBe(`${path.join(root, 'reg.example')}: client certificate client.cert has no key client.key beside it (CA certificates are named *.crt)`);
  });

  it('refuses a key without its client certificate, naming both files', () => {
    const root = certsD('reg.example', { 'client.key': pem.key });
    expect(failure(() => tlsFor('reg.example', { systemDirs: [root] })).message).toMatch(/key client.key has no client certificate client.cert beside it/);
  });

  it('refuses two client certificates', () => {
    const root = certsD('reg.example', { 'a.cert': pem.cert, 'a.key': pem.key, 'b.cert': pem.cert, 'b.key': pem.key });
    expect(failure(() => tlsFor('reg.example', { systemDirs: [root] })).message).toMatch(/2 client certificates \(a.cert, b.cert\)/);
  });

  it('reads only the first directory that has the host', () => {
    const first = certsD('reg.example', { 'first.crt': 'FIRST' });
    const second = certsD('reg.example', { 'second.crt': 'SECOND' });
    expect(tlsFor('reg.example', { systemDirs: [scratch(), first, second] }).ca).toEqual(['FIRST']);
  });

  it("reads Docker Hub's files under docker.io/ when connecting to registry-1.docker.io", () => {
    const root = certsD('docker.io', { 'hub.crt': pem.ca });
    expect(tlsFor('registry-1.docker.io', { systemDirs: [root] }).ca).toEqual([pem.ca]);
  });

  it('reads the files of --cert-dir directly from it, not from a HOST/ below it', () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'ca.crt'), pem.ca);
    const root = certsD('reg.example', { 'system.crt': 'SYSTEM' });
    expect(tlsFor('reg.example', { certDir: dir, systemDirs: [root] }).ca).toEqual([pem.ca]);
  });

  it('refuses a --cert-dir that does not exist', () => {
    expect(failure(() => tlsFor('reg.example', { certDir: '/no/such/certs' }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: '--cert-dir /no/such/certs: no such directory',
    });
  });
});

describe('tlsFor: verification', () => {
  const none = { systemDirs: [] as string[] };

  it('turns verification off and allows plain http with --tls-verify=false', () => {
    expect(tlsFor('reg.example', { ...none, tlsVerify: false })).toMatchObject({ verify: false, allowHttp: true });
  });

  it('turns verification off and allows plain http for a registry insecure in registries.conf', () => {
    expect(tlsFor('reg.example', { ...none, insecure: true })).toMatchObject({ verify: false, allowHttp: true });
  });

  it('verifies with --tls-verify=true even where registries.conf says insecure', () => {
    expect(tlsFor('reg.example', { ...none, insecure: true, tlsVerify: true })).toMatchObject({ verify: true, allowHttp: false });
  });
});

describe('secureContext', () => {
  it("a proxy's context (no certs.d CAs, no client pair) is made once for the file the command deferred, not at every CONNECT", () => {
    const file = path.join(scratch(), 'extra.pem');
    fs.writeFileSync(file, pem.ca);
    restoreCommandEnv({ [MOVED_CA]: file });
    const first = secureContext({});
    expect(first).toBeDefined();
    expect(secureContext({})).toBe(first);
    // A host's own CAs get a context of their own.
    expect(secureContext({ ca: [pem.ca] })).not.toBe(first);
  });

  it("nothing verified (--tls-verify=false): one context with no CA, not the deferred file nor certs.d nor Node's roots; a client pair still sent", () => {
    const file = path.join(scratch(), 'extra.pem');
    fs.writeFileSync(file, pem.ca);
    restoreCommandEnv({ [MOVED_CA]: file });
    const verified = secureContext({ verify: true });
    const none = secureContext({ verify: false });
    expect(none).toBeDefined();
    expect(none).not.toBe(verified);
    expect(secureContext({ verify: false, ca: [pem.ca] })).toBe(none);
    const pair = secureContext({ verify: false, ca: [pem.ca], cert: pem.cert, key: pem.key });
    expect(pair).toBeDefined();
    expect([verified, none]).not.toContain(pair);
  });

  it("nothing verified, a client certificate signed by an intermediate: its chain is sent from certs.d's CAs, and a server trusting only the root takes it", async () => {
    const dir = scratch();
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    fs.writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
    run('req', '-x509', ...ec, '-subj', '/CN=root', '-keyout', 'root.key', '-out', 'root.crt', '-days', '2');
    run('req', ...ec, '-subj', '/CN=intermediate', '-keyout', 'mid.key', '-out', 'mid.csr');
    run('x509', '-req', '-in', 'mid.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-extfile', 'ca.ext', '-out', 'mid.crt', '-days', '2');
    run('req', ...ec, '-subj', '/CN=client', '-keyout', 'leaf.key', '-out', 'leaf.csr');
    run('x509', '-req', '-in', 'leaf.csr', '-CA', 'mid.crt', '-CAkey', 'mid.key', '-CAcreateserial', '-out', 'leaf.cert', '-days', '2');
    const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8');
    const server = https.createServer({ key: read('root.key'), cert: read('root.crt'), ca: [read('root.crt')], requestCert: true, rejectUnauthorized: true }, (_req, res) =>
      res.end('ok'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const context = secureContext({ verify: false, ca: [read('root.crt'), read('mid.crt')], cert: read('leaf.cert'), key: read('leaf.key') });
      const { port } = server.address() as AddressInfo;
      const status = await new Promise<number | string>((resolve) => {
        https
          .get({ host: '127.0.0.1', port, path: '/', agent: new https.Agent({ secureContext: context, rejectUnauthorized: false }) }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      });
      expect(status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
