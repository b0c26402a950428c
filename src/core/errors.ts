import util from 'node:util';
import type { NativeFailure } from './native.cjs';
import { displayPath } from './paths.js';

/** errno names a failed system call reports as its code (Linux, as libuv names them, plus a few libuv lacks). */
export const SYSTEM_ERROR_CODES = [
  'E2BIG',
  'EACCES',
  'EADDRINUSE',
  'EADDRNOTAVAIL',
  'EAFNOSUPPORT',
  'EAGAIN',
  'EALREADY',
  'EBADF',
  'EBUSY',
  'ECANCELED',
  'ECHARSET',
  'ECONNABORTED',
  'ECONNREFUSED',
  'ECONNRESET',
  'EDESTADDRREQ',
  'EDQUOT',
  'EEXIST',
  'EFAULT',
  'EFBIG',
  'EFTYPE',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'EILSEQ',
  'EINTR',
  'EINVAL',
  'EIO',
  'EISCONN',
  'EISDIR',
  'ELOOP',
  'EMFILE',
  'EMLINK',
  'EMSGSIZE',
  'ENAMETOOLONG',
  'ENETDOWN',
  'ENETUNREACH',
  'ENFILE',
  'ENOBUFS',
  'ENODATA',
  'ENODEV',
  'ENOENT',
  'ENOMEM',
  'ENONET',
  'ENOPROTOOPT',
  'ENOSPC',
  'ENOSYS',
  'ENOTCONN',
  'ENOTDIR',
  'ENOTEMPTY',
  'ENOTSOCK',
  'ENOTSUP',
  'ENOTTY',
  'ENXIO',
  'EOF',
  'EOVERFLOW',
  'EPERM',
  'EPIPE',
  'EPROTO',
  'EPROTONOSUPPORT',
  'EPROTOTYPE',
  'ERANGE',
  'EREMOTEIO',
  'EROFS',
  'ESHUTDOWN',
  'ESOCKTNOSUPPORT',
  'ESPIPE',
  'ESRCH',
  'ESTALE',
  'ETIMEDOUT',
  'ETXTBSY',
  'EUNATCH',
  'EXDEV',
] as const;
export type SystemErrorCode = (typeof SYSTEM_ERROR_CODES)[number];

/** Every code a LayercopyError can carry: layercopy's own, a system call's errno name, or ERR_SYSTEM for an errno without a name. */
export type LayercopyCode =
  | SystemErrorCode
  | 'ERR_SYSTEM'
  | 'ERR_USAGE'
  | 'ERR_INVALID_OPTION'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_NO_LAYERS'
  | 'ERR_ALREADY_PROVISIONED'
  | 'ERR_INVALID_WHITEOUT'
  | 'ERR_UNSUPPORTED_ENTRY'
  | 'ERR_SOURCE_CHANGED'
  | 'ERR_WORKER'
  | 'ERR_MOUNT_POINT'
  | 'ERR_UNSUPPORTED_KERNEL'
  | 'ERR_UNMAPPED_ID'
  | 'ERR_INVALID_STATE'
  | 'ERR_NATIVE_HELPER'
  | 'ERR_INVALID_IMAGE'
  | 'ERR_IMAGE_NOT_FOUND'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_INVALID_TAR'
  | 'ERR_AUTH'
  | 'ERR_REGISTRY'
  | 'ERR_STORE'
  | 'ABORT_ERR';

export class LayercopyError extends Error {
  code: LayercopyCode;
  /** The layer being applied, as the caller gave it, and its 0-based position (messages count from 1: layerIndex 0 is "layer 1"). */
  layer?: string;
  layerIndex?: number;
  /** The path that failed: inside the layer, or inside ROOTFS. */
  path?: string;
  syscall?: string;
  errno?: number;
  /** An image layer's blob digest and diff_id, in full (the layer's own; `layer` is the image's argument). */
  digest?: string;
  diffId?: string;

  constructor(message: string, fields: LayercopyErrorFields) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.name = fields.code === 'ABORT_ERR' ? 'AbortError' : 'LayercopyError';
    this.code = fields.code;
    this.layer = fields.layer;
    this.layerIndex = fields.layerIndex;
    this.path = fields.path;
    this.syscall = fields.syscall;
    this.errno = fields.errno;
    if (fields.digest !== undefined) this.digest = fields.digest;
    if (fields.diffId !== undefined) this.diffId = fields.diffId;
  }
}

/** What a LayercopyError is made from: its fields (declared once, on the class) and the original error. */
export type LayercopyErrorFields = Pick<LayercopyError, 'code' | 'layer' | 'layerIndex' | 'path' | 'syscall' | 'errno' | 'digest' | 'diffId'> & { cause?: unknown };

/** Where a layer came from: what its errors and its line of the summary carry. */
export interface LayerSource {
  /** The LAYER argument as given (a directory or tarball path made absolute; an image reference as typed). */
  arg: string;
  /** That argument's 0-based position among the LAYER arguments (an image's layers share it). */
  argIndex: number;
  /** An image layer's blob digest and diff_id, in full. */
  digest?: string;
  diffId?: string;
}

export interface LayerContext {
  /** The layer as the caller gave it (absolute). */
  layer: string;
  /** The directory it resolved to (symlinks followed once, at the start); paths in errors lie under it. */
  dir: string;
  /** 0-based; messages count from 1 ("layer 1"). */
  layerIndex: number;
  /** The ROOTFS the user asked for (messages name it, not the staging dir). */
  rootfs: string;
  /** The argument the layer came from, for the error fields; default: `layer` at `layerIndex`. */
  source?: LayerSource;
}

/** How messages name a layer: "layer 2 (/layers/app)", or an image's layer by its own label ("oci:PATH:REF layer 2/5 (sha256:…)"). */
export function layerLabel(ctx: LayerContext): string {
  if (ctx.source?.digest !== undefined || ctx.source?.diffId !== undefined) return ctx.layer;
  const n = (ctx.source?.argIndex ?? ctx.layerIndex) + 1;
  // A tarball's entries are shown as "FILE:/path" (dir is "FILE:"): no "->" for that.
  return `layer ${n} (${ctx.layer === ctx.dir || ctx.dir === `${ctx.layer}:` ? ctx.layer : `${ctx.layer} -> ${ctx.dir}`})`;
}

/** The error fields naming a layer's source: the argument as given, its position, an image layer's digests. */
export function sourceFields(ctx: LayerContext): Pick<LayercopyError, 'layer' | 'layerIndex' | 'digest' | 'diffId'> {
  const source = ctx.source ?? { arg: ctx.layer, argIndex: ctx.layerIndex };
  return { layer: source.arg, layerIndex: source.argIndex, digest: source.digest, diffId: source.diffId };
}

// errno values libuv's map lacks on Linux.
const EXTRA_ERRNO: Record<number, [SystemErrorCode, string]> = { 116: ['ESTALE', 'stale file handle'], 122: ['EDQUOT', 'disk quota exceeded'] };

/** The errno's name and description: 28 -> ['ENOSPC', 'no space left on device']. */
export function systemError(errno: number): [string, string] {
  return util.getSystemErrorMap().get(-errno) ?? EXTRA_ERRNO[errno] ?? [`errno ${errno}`, 'unknown error'];
}

/** A code for an errno: its name when known, else ERR_SYSTEM. */
export function errnoCode(name: string | undefined): LayercopyCode {
  return (SYSTEM_ERROR_CODES as readonly string[]).includes(name ?? '') ? (name as SystemErrorCode) : 'ERR_SYSTEM';
}

/** A failed system call: errno positive (as the kernel returns it), the call, the path it named. */
export interface SystemFailure {
  errno: number;
  syscall: string;
  path?: string;
}

/** A failed call of Node's fs as a SystemFailure (Node's errno is negative). */
export function fromNodeError(error: unknown, syscall: string, path?: string): SystemFailure {
  const e = error as NodeJS.ErrnoException;
  return { errno: e.errno === undefined ? 0 : Math.abs(e.errno), syscall: e.syscall ?? syscall, path: path ?? e.path };
}

/**
 * The one errno -> LayercopyError translation. `message` gets the errno's
 * name and description ("ENOSPC", "no space left on device") and writes the
 * line; the error gets code (the name, or ERR_SYSTEM), errno (negative, as
 * Node's own errors), syscall, path, the layer fields given, and as cause
 * the original error, or a Node-style error made from the failure.
 */
export function errnoError(
  f: SystemFailure,
  message: (name: string, description: string) => string,
  fields: { layer?: string; layerIndex?: number; digest?: string; diffId?: string; cause?: unknown } = {},
): LayercopyError {
  const [name, description] = systemError(f.errno);
  const cause =
    fields.cause ?? Object.assign(new Error(`${f.syscall} ${f.path ?? ''}: ${name} (${description})`), { code: name, errno: -f.errno, syscall: f.syscall, path: f.path });
  return new LayercopyError(message(name, description), {
    code: errnoCode(name),
    layer: fields.layer,
    layerIndex: fields.layerIndex,
    digest: fields.digest,
    diffId: fields.diffId,
    path: f.path,
    syscall: f.syscall,
    errno: -f.errno,
    cause,
  });
}

/** Any error as a LayercopyError: raw fs errors from the JS side are wrapped, keeping the original as cause. */
export function asLayercopyError(error: unknown, what: string): LayercopyError {
  if (error instanceof LayercopyError) return error;
  const e = error as NodeJS.ErrnoException;
  return new LayercopyError(e?.code === 'ERR_NATIVE_HELPER' ? e.message : `${what}: ${e?.message ?? String(error)}`, {
    code: e?.code === 'ERR_NATIVE_HELPER' ? 'ERR_NATIVE_HELPER' : errnoCode(e?.code),
    path: e?.path,
    syscall: e?.syscall,
    errno: e?.errno,
    cause: error,
  });
}

/** Turns a native step's plain-data failure back into an error on the main thread. */
export function fromFailure(f: NativeFailure, ctx: LayerContext, operation: string): LayercopyError {
  const where = f.side === 'layer' ? layerPath(ctx, f.rel ?? '') : displayPath(ctx.rootfs, f.rel ?? '');
  if (f.code === 'ECANCELED') return abortError();
  if (f.code === 'EUNMAPPEDUID' || f.code === 'EUNMAPPEDGID') {
    const kind = f.code === 'EUNMAPPEDUID' ? 'uid' : 'gid';
    // detail: the kernel refused the owner (native/meta.c says why); else the ID map lacks it.
    const why = f.detail ?? `${kind} ${f.id} is outside every --${kind}-map range`;
    return new LayercopyError(`${layerLabel(ctx)}: ${operation} ${where}: ${why}`, {
      code: 'ERR_UNMAPPED_ID',
      ...sourceFields(ctx),
      path: where,
      syscall: f.syscall,
    });
  }
  if (f.errno === 0 && f.code === 'EUNSUPPORTEDENTRY') {
    return new LayercopyError(`${layerLabel(ctx)}: ${operation} ${where}: ${f.detail}`, {
      code: 'ERR_UNSUPPORTED_ENTRY',
      ...sourceFields(ctx),
      path: where,
      syscall: f.syscall,
    });
  }
  if (f.errno === 0 && f.code === 'ESRCCHANGED') {
    return new LayercopyError(`${layerLabel(ctx)}: ${operation} ${where}: the source changed while it was being copied (${f.syscall})`, {
      code: 'ERR_SOURCE_CHANGED',
      ...sourceFields(ctx),
      path: where,
      syscall: f.syscall,
    });
  }
  return errnoError(
    { errno: f.errno, syscall: f.syscall, path: where },
    (name, description) => `${layerLabel(ctx)}: ${operation} ${where}: ${f.syscall} failed: ${name} (${description})${f.detail ? `: ${f.detail}` : ''}`,
    {
      ...sourceFields(ctx),
    },
  );
}

/** An entry as messages and `path` name it: under the layer's directory; FILE:/path in a tarball given as a file; /path in an image's layer (its label names the image and blob, as the tar reader names entries). */
function layerPath(ctx: LayerContext, rel: string): string {
  return (ctx.source?.digest ?? ctx.source?.diffId) !== undefined && ctx.dir === `${ctx.layer}:` ? displayPath('/', rel) : displayPath(ctx.dir, rel);
}

export function layerError(ctx: LayerContext, rel: string, code: LayercopyCode, what: string): LayercopyError {
  const where = layerPath(ctx, rel);
  return new LayercopyError(`${layerLabel(ctx)}: ${where}: ${what}`, {
    code,
    ...sourceFields(ctx),
    path: where,
  });
}

export function abortError(reason?: unknown): LayercopyError {
  return new LayercopyError('provision aborted', { code: 'ABORT_ERR', cause: reason });
}
