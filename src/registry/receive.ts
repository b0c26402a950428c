import http from 'node:http';
import type net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { abortError } from '../core/errors.js';
import { native } from '../core/native.cjs';
import { ENDED_HERE, type HttpResponse } from './transport.js';

// A blob's body received by the native helper straight into its spool file
// (native/receive.h), where the response came over plain HTTP (a registry
// with --tls-verify=false or `insecure`, a per-node mirror such as Spegel
// or Dragonfly on the node's own address) and says its length: node:http
// parsed each 64 KiB of it into a fresh Buffer and the spool's writes went
// through libuv's threads (docs/benchmarks.md). Over TLS the body is read
// through node:https as before. LAYERCOPY_RECEIVE=0 turns it off;
// LAYERCOPY_RECEIVE=read reads and writes the body instead of splicing it
// (comparisons).

type RawSocket = net.Socket & { encrypted?: boolean; _read: (n: number) => void; _handle?: { fd?: number; reading?: boolean; readStop?(): number } | null };

interface Taken {
  socket: RawSocket;
  fd: number;
  /** What node:http had read already: the body's first bytes, in order. */
  head: Buffer[];
}

/** The response's connection, taken from node:http once its headers are read; undefined where the body is not this simple to take. */
function take(response: HttpResponse, length: number): Taken | undefined {
  const res = response.body;
  if (process.env.LAYERCOPY_RECEIVE === '0' || !(res instanceof http.IncomingMessage) || res.readableFlowing !== null) return undefined;
  const socket = res.socket as RawSocket | null;
  const handle = socket?._handle;
  if (!socket || socket.encrypted || !handle || typeof handle.fd !== 'number' || handle.fd < 0 || typeof handle.readStop !== 'function') return undefined;
  if (res.headers['transfer-encoding'] !== undefined || Number(res.headers['content-length']) !== length) return undefined;
  // From here on nothing reads the socket but the native thread: libuv's
  // reading stops, and the stream's machinery cannot start it again.
  socket._read = () => undefined;
  handle.reading = false;
  handle.readStop();
  // The request's timeout counted silence from libuv's reads, which stop here: it would end a body still arriving after
  // 300 s. The thread keeps the same bound between its own reads.
  socket.setTimeout(0);
  socket.pause();
  socket.removeAllListeners('data');
  const head: Buffer[] = [];
  // The parsed body first (node:http's message), then what the socket read past the parser.
  for (let chunk = res.read() as Buffer | null; chunk !== null; chunk = res.read()) head.push(chunk);
  // res.read() resumed the socket (node:http's _read): paused again before its next tick would flow it.
  socket.pause();
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read()) head.push(chunk);
  return { socket, fd: handle.fd, head };
}

export interface Receiving {
  /** The spool file's fd, and where the body's bytes go in it. */
  fd: number;
  position: number;
  /** The bytes the body holds (its Content-Length). */
  length: number;
  /** The follower's progress (src/images/follow.ts): [0] the bytes on file. */
  progress: BigInt64Array;
  idleMs: number;
  onBytes?: (bytes: number) => void;
}

/** What receiveBody did: `received` bytes on file (those node:http had read first); `error`, a failure after them; `spliced`, moved by splice. */
export interface Received {
  received: number;
  spliced?: boolean;
  error?: Error;
}

/**
 * Receives the response's body into the spool file on a native thread, or
 * undefined where the response cannot be taken (read its body then). Fewer
 * bytes than `length` without an error: the peer ended it early. A network
 * failure has its code (ECONNRESET, ETIMEDOUT) as node:http's would, so
 * that a resume follows; an abort is an AbortError.
 */
export async function receiveBody(response: HttpResponse, r: Receiving): Promise<Received | undefined> {
  const taken = take(response, r.length);
  if (!taken) return undefined;
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  // The transport ends the connection on an abort (Ctrl-C, another layer's failure): the thread stops. A close the
  // peer made (a reset mid-blob) is the thread's to meet on its own fd, as a network failure the download resumes.
  const onClose = () => {
    if (ENDED_HERE.has(taken.socket)) Atomics.store(cancel, 0, 1);
  };
  taken.socket.once('close', onClose);
  let reported = r.position;
  const report = () => {
    const now = Number(Atomics.load(r.progress, 0));
    if (now > reported) r.onBytes?.(now - reported);
    reported = Math.max(reported, now);
  };
  const ticker = setInterval(report, 100);
  try {
    const head = Buffer.concat(taken.head).subarray(0, r.length);
    // Started in the same turn as the takeover: the socket's fd is dup'ed before anything could close it.
    const splice = process.env.LAYERCOPY_RECEIVE !== 'read';
    const result = await native.receiveInto(taken.fd, r.fd, r.position, r.length, head.length > 0 ? head : null, r.progress, cancel, r.idleMs, splice);
    if (result.errno === undefined) return { received: result.received, spliced: result.spliced };
    const code = getSystemErrorName(-result.errno);
    const error = Atomics.load(cancel, 0) !== 0 ? abortError() : Object.assign(new Error(`${result.syscall} ${code}`), { code, errno: -result.errno, syscall: result.syscall });
    return { received: result.received, spliced: result.spliced, error };
  } catch (error) {
    return { received: 0, error: error as Error };
  } finally {
    clearInterval(ticker);
    report();
    taken.socket.off('close', onClose);
    // The connection is not reused: node:http's parser never saw the body's end.
    taken.socket.destroy();
  }
}
