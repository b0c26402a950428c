import fs from 'node:fs';
import { errnoError, fromNodeError, LayercopyError, type LayerSource } from '../core/errors.js';
import type { Platform } from '../core/options.js';
import { resolveDockerArchive } from './archive.js';
import type { TarLayer } from './layer.js';
import { archiveSource, directorySource } from './layout-source.js';
import { resolveOciLayout, type SeenImage } from './oci.js';
import type { LayerArgument } from './reference.js';
import { archiveShapes, directoryShape, references } from './shape.js';

type ImageArgument = Exclude<LayerArgument, { kind: 'path' } | { kind: 'docker' }>;

/**
 * An image reference (oci:, oci-archive:, docker-archive:) to its layers,
 * lowest first, each with where it came from. Its inputs fail by the rule
 * of docs/errors.md ("Inputs"): a path that is missing or of the wrong kind
 * (a file given to oci:, a directory to an archive transport) is
 * ERR_INVALID_ARGUMENT, with the reference that fits where there is one;
 * the right kind but malformed or cut short is ERR_INVALID_IMAGE; no
 * permission is EACCES. Every error carries the argument as given and its
 * position among the LAYER arguments, never ROOTFS.
 */
export function resolveImage(given: string, argIndex: number, arg: ImageArgument, platform: Platform, seen?: SeenImage): { tar: TarLayer; source: LayerSource }[] {
  const where = `layer ${argIndex + 1} (${given})`;
  const fields = { layer: given, layerIndex: argIndex };
  const target = arg.kind === 'oci' ? arg.layout : arg.file;
  const expected = arg.kind === 'oci' ? 'an OCI image layout directory' : `${arg.kind === 'oci-archive' ? 'an' : 'a'} ${arg.kind} file`;
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const why = code === 'ENOENT' ? 'does not exist' : 'has a path component that is not a directory';
      throw new LayercopyError(`${where}: ${target} ${why} (expected ${expected})`, { code: 'ERR_INVALID_ARGUMENT', ...fields, path: target, cause: error });
    }
    throw systemError(error, where, target, fields);
  }
  if (arg.kind === 'oci' && !st.isDirectory()) {
    const shapes = st.isFile() ? archiveShapes(target) : [];
    const hint = shapes.length > 0 ? `; it is an image archive: did you mean ${references(shapes, target)}?` : '';
    throw new LayercopyError(`${where}: ${target} is ${st.isFile() ? 'a file' : 'not a directory'}, not ${expected}${hint}`, {
      code: 'ERR_INVALID_ARGUMENT',
      ...fields,
      path: target,
    });
  }
  if (arg.kind !== 'oci' && !st.isFile()) {
    const hint = st.isDirectory() && directoryShape(target) === 'oci' ? `; it is an OCI image layout: did you mean oci:${target}?` : '';
    throw new LayercopyError(`${where}: ${target} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}, not ${expected}${hint}`, {
      code: 'ERR_INVALID_ARGUMENT',
      ...fields,
      path: target,
    });
  }
  try {
    // An archive given through a symlink (Nix's `result`) is read at its target: its members are opened O_NOFOLLOW.
    const file = arg.kind === 'oci' ? '' : fs.realpathSync(arg.file);
    const tars =
      arg.kind === 'docker-archive'
        ? resolveDockerArchive(given, { ...arg, file }, platform, seen)
        : resolveOciLayout(given, arg.kind === 'oci' ? directorySource(arg.layout) : archiveSource(file, given), arg, platform, seen);
    return tars.map((tar) => ({ tar, source: { arg: given, argIndex, digest: tar.digest, diffId: tar.diffId } }));
  } catch (error) {
    if (error instanceof LayercopyError) {
      error.layer = given;
      error.layerIndex = argIndex;
      // Every input's message starts as a missing one's does: "layer N (ARG): …".
      error.message = `${where}: ${error.message.startsWith(`${given}: `) ? error.message.slice(given.length + 2) : error.message}`;
      throw error;
    }
    if (error instanceof SyntaxError) {
      throw new LayercopyError(`${given}: malformed JSON in the image (${error.message})`, { code: 'ERR_INVALID_IMAGE', ...fields, path: target, cause: error });
    }
    const e = error as NodeJS.ErrnoException;
    throw systemError(error, where, e.path ?? target, fields);
  }
}

/** An fs failure reading an input (EACCES, EIO…) under its own code, naming the input. */
function systemError(error: unknown, where: string, file: string, fields: { layer: string; layerIndex: number }): LayercopyError {
  const e = error as NodeJS.ErrnoException;
  if (typeof e?.errno !== 'number') throw error;
  return errnoError(fromNodeError(error, e.syscall ?? 'open', file), (name, description) => `${where}: cannot read ${file}: ${name} (${description})`, { ...fields, cause: error });
}
