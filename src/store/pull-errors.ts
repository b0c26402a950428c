import fs from 'node:fs';
import path from 'node:path';
import { LayercopyError } from '../core/errors.js';
import { looksLikeRegistryImage } from '../registry/reference.js';

// What a pull says where its argument or its run went wrong in a way the
// code below it cannot name: a path given without its transport, and an
// interrupt (the readers below it say "provision aborted", as they serve
// provision too).

/** The transport a path given to pull most likely needed, as a question ending the message, or ''. */
function didYouMean(image: string): string {
  const st = fs.statSync(image, { throwIfNoEntry: false });
  if (st?.isDirectory()) {
    const layout = fs.existsSync(path.join(image, 'oci-layout'));
    return `; did you mean oci:${image}?${layout ? '' : ' (it holds no oci-layout file: a directory of files is a layer, for provision, not an image to pull)'}`;
  }
  if (st?.isFile()) return `; did you mean oci-archive:${image} or docker-archive:${image}?`;
  return st === undefined && looksLikeRegistryImage(image) ? `; did you mean docker://${image}?` : '';
}

export function notAReference(image: string): LayercopyError {
  return new LayercopyError(`pull ${image}: not an image reference (docker://…, oci:…, oci-archive:…, docker-archive:…)${didYouMean(image)}`, {
    code: 'ERR_INVALID_ARGUMENT',
    layer: image,
    layerIndex: 0,
  });
}

/** An abort met anywhere in a pull, named as the pull it ended. */
export function pullAborted(image: string, error: unknown): unknown {
  if ((error as LayercopyError)?.code !== 'ABORT_ERR') return error;
  return new LayercopyError(`pull ${image} aborted`, { code: 'ABORT_ERR', cause: error });
}
