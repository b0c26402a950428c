// A blob's body taken from node:http once its headers are read and received
// into the spool file by the native helper (src/registry/receive.ts,
// native/receive.h), against real servers on loopback.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { receiveBody } from '../../src/registry/receive.js';
import { type HttpResponse, Transport } from '../../src/registry/transport.js';
import { loopbackServers } from '../fixtures/http-servers.js';
import { hasCc, preloading, syscallShim } from '../fixtures/shim.js';
import { scratch } from '../helpers.js';

const files: number[] = [];
afterEach(() => {
  for (const fd of files.splice(0)) fs.closeSync(fd);
});

const listen = loopbackServers();
const serve = async (handler: http.RequestListener) => `http://${await listen(handler)}/blob`;

const plain = () => ({ verify: false, allowHttp: true, files: [] });

/** GETs url and receives its body into a new file at `position`; what receiveBody said, the file's bytes, the progress, the bytes reported. */
async function receive(url: string, length: number, position = 0, options: { idleMs?: number; abort?: AbortController; before?: (response: HttpResponse) => void } = {}) {
  const transport = new Transport(plain, options.abort?.signal);
  const response = await transport.request(url);
  const file = path.join(scratch(), 'spool');
  const fd = fs.openSync(file, 'w+');
  files.push(fd);
  const progress = new BigInt64Array(new SharedArrayBuffer(16));
  let reported = 0;
  options.before?.(response);
  const result = await receiveBody(response, {
    fd,
    position,
    length,
    progress,
    idleMs: options.idleMs ?? 300_000,
    onBytes: (n) => {
      reported += n;
    },
  });
  return { result, data: fs.readFileSync(file), progress: Number(progress[0]), reported };
}

// Each way the thread moves a body: splice through a pipe (the default), and read + pwrite (LAYERCOPY_RECEIVE=read).
describe.each(['splice', 'read'])('receiveBody, %s', (mode) => {
  beforeEach(() => {
    if (mode === 'read') process.env.LAYERCOPY_RECEIVE = 'read';
  });
  afterEach(() => {
    delete process.env.LAYERCOPY_RECEIVE;
  });

  it('a plain-HTTP body with its Content-Length: every byte on file in order, the progress and the bytes reported at its end', async () => {
    const body = crypto.randomBytes(6 << 20);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': body.length });
      // In pieces, so that node:http has read some before the native thread takes the rest.
      res.write(body.subarray(0, 100_000));
      setTimeout(() => res.end(body.subarray(100_000)), 20);
    });
    const { result, data, progress, reported } = await receive(url, body.length);
    expect(result?.error).toBeUndefined();
    expect(result!.received).toBe(body.length);
    expect(data.equals(body)).toBe(true);
    expect(progress).toBe(body.length);
    expect(reported).toBe(body.length);
    expect(result!.spliced).toBe(mode === 'splice');
  });

  it('written from `position` (a resumed download): the file before it untouched', async () => {
    const body = crypto.randomBytes(1 << 20);
    const url = await serve((_req, res) => {
      res.writeHead(206, { 'content-length': body.length });
      res.end(body);
    });
    const { result, data, progress } = await receive(url, body.length, 1000);
    expect(result!.received).toBe(body.length);
    expect(data.subarray(0, 1000).equals(Buffer.alloc(1000))).toBe(true);
    expect(data.subarray(1000).equals(body)).toBe(true);
    expect(progress).toBe(1000 + body.length);
  });

  it('a body the server cuts short: what arrived is on file and counted, with no error (the caller resumes)', async () => {
    const body = crypto.randomBytes(2 << 20);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': body.length * 2 });
      res.write(body, () => setTimeout(() => res.socket?.destroy(), 50));
    });
    const { result, data } = await receive(url, body.length * 2);
    const got = result!.received;
    expect(got).toBe(body.length);
    expect(data.subarray(0, got).equals(body)).toBe(true);
  });

  it('a write that fails part way (past the file size limit): what is on file is what is counted, and what the progress says', async () => {
    const fixture = new URL('../fixtures/receive-child.mjs', import.meta.url).pathname;
    const file = path.join(scratch(), 'spool');
    const r = await execa('prlimit', ['--fsize=3000000', process.execPath, fixture, file], { env: mode === 'read' ? { LAYERCOPY_RECEIVE: 'read' } : {} });
    const out = JSON.parse(r.stdout);
    expect(out.code).toBe('EFBIG');
    expect(out.onFile).toBeGreaterThan(0);
    expect(out.received).toBe(out.onFile);
    expect(out.progress).toBe(out.onFile);
    expect(out.matches).toBe(true);
  });

  it('a server silent past idleMs: ETIMEDOUT, as a network failure node:http would give', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('12345');
    });
    const { result } = await receive(url, 10, 0, { idleMs: 300 });
    expect(result!.error).toMatchObject({ code: 'ETIMEDOUT', syscall: 'read' });
    expect(result!.received).toBe(5);
  });

  it("a body that keeps arriving outlasts the request's timeout (it counted libuv's reads, which stop at the takeover)", async () => {
    const piece = crypto.randomBytes(16 << 10);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': piece.length * 12 });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(piece);
        if (++sent === 12) {
          clearInterval(timer);
          res.end();
        }
      }, 50);
    });
    // As the transport's own: a socket timeout that destroys the connection (here 200 ms, the body takes 600).
    const before = (response: HttpResponse) => {
      const socket = (response.body as http.IncomingMessage).socket!;
      socket.setTimeout(200, () => socket.destroy(new Error('timed out')));
    };
    const { result, data } = await receive(url, piece.length * 12, 0, { before });
    expect(result?.error).toBeUndefined();
    expect(result!.received).toBe(piece.length * 12);
    expect(data.subarray(0, piece.length).equals(piece)).toBe(true);
  });

  it('an abort (the transport destroys the connection) stops the thread: an AbortError', async () => {
    const abort = new AbortController();
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('12345');
      setTimeout(() => abort.abort(), 100);
    });
    const { result } = await receive(url, 10, 0, { abort });
    expect(result!.error?.name).toBe('AbortError');
  });

  it("a close this side did not make (node:http seeing the peer's reset) does not stop the thread: it reads on, and meets the peer's end itself", async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 10 });
      res.write('12345');
      setTimeout(() => res.end('67890'), 150);
    });
    // Before: any close of the socket set the thread's cancel flag, and a reset mid-blob was told as "provision aborted".
    const before = (response: HttpResponse) => {
      const socket = (response.body as http.IncomingMessage).socket;
      setTimeout(() => socket.emit('close', true), 50);
    };
    const { result, data } = await receive(url, 10, 0, { before });
    expect(result?.error).toBeUndefined();
    expect(data.toString()).toBe('1234567890');
  });
});

describe('receiveBody', () => {
  it('a body node:http had read whole with the headers: on file from what it read, nothing spliced', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 100 });
      res.end('x'.repeat(100));
    });
    const { result, data } = await receive(url, 100);
    expect(result).toMatchObject({ received: 100, spliced: false });
    expect(data.toString()).toBe('x'.repeat(100));
  });

  it.runIf(hasCc())('a socket that refuses splice after node:http read the first bytes: read and written instead, every byte on file [needs cc: a fault shim]', async () => {
    const shim = syscallShim()!;
    const fixture = new URL('../fixtures/receive-child.mjs', import.meta.url).pathname;
    const file = path.join(scratch(), 'spool');
    const r = await execa(process.execPath, [fixture, file], { env: { LD_PRELOAD: preloading(shim), LAYERCOPY_SHIM_SPLICE: 'einval' } });
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ received: out.length, spliced: false, onFile: out.length, progress: out.length, matches: true });
    expect(out.code).toBeUndefined();
  });

  it('not taken where the length is not the one asked for, nor with chunked framing: the caller reads the body', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 4 });
      res.end('abcd');
    });
    expect((await receive(url, 5)).result).toBeUndefined();
    const chunked = await serve((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.end('abcd');
    });
    expect((await receive(chunked, 4)).result).toBeUndefined();
  });

  it('not taken with LAYERCOPY_RECEIVE=0', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 4 });
      res.end('abcd');
    });
    process.env.LAYERCOPY_RECEIVE = '0';
    try {
      expect((await receive(url, 4)).result).toBeUndefined();
    } finally {
      delete process.env.LAYERCOPY_RECEIVE;
    }
  });
});
