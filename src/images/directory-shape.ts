import fs from 'node:fs';
import path from 'node:path';
import { readRegular } from './regular.js';

// A directory's shape needs only stat and one small read: it lives apart
// from the archive checks (src/images/shape.ts), which pull in the tar and
// decompression code, so that a provision of layer directories does not
// load that code (docs/benchmarks.md, "Startup").

/** The images a directory can be given where a layer directory was expected. */
export type DirectoryImageShape = 'oci' | 'dir';

/** An OCI image layout (image-layout.md): oci-layout, index.json and blobs/ together. */
function isOciLayoutDir(dir: string): boolean {
  return isFile(path.join(dir, 'oci-layout')) && isFile(path.join(dir, 'index.json')) && isDir(path.join(dir, 'blobs'));
}

/** skopeo's dir: transport: manifest.json and a version file ("Directory Transport Version: …"). */
function isSkopeoDir(dir: string): boolean {
  if (!isFile(path.join(dir, 'manifest.json')) || !isFile(path.join(dir, 'version'))) return false;
  try {
    // Its first bytes only: a layer directory's `version` may be anything (a FIFO, a huge file).
    return readRegular(path.join(dir, 'version'), 64).toString('latin1').startsWith('Directory Transport Version');
  } catch {
    return false;
  }
}

/** The image a directory is, or undefined for anything else (a layer directory). */
export function directoryShape(dir: string): DirectoryImageShape | undefined {
  if (isOciLayoutDir(dir)) return 'oci';
  if (isSkopeoDir(dir)) return 'dir';
  return undefined;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
