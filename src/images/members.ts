import fs from 'node:fs';
import { errnoError, LayercopyError } from '../core/errors.js';
import { native, type TarMember } from '../core/native.cjs';
import { JSON_LIMIT } from './regular.js';

// The members of an uncompressed tar (a docker-archive, an oci-archive),
// found by reading its headers only; each member is then read, or streamed,
// by offset. The headers are read by the native helper (native/tarscan.c)
// by the same rules as the layers' tar streams (native/tarhdr.c): base-256
// numbers, both checksums, GNU long names, the ustar prefix, PAX path and
// size records; a file shorter than its headers say is refused as cut short.

export interface Member {
  offset: number;
  size: number;
  /** Its name in the archive, for messages. */
  name?: string;
}

/** Regular-file members of an uncompressed tar by name: headers read, data skipped. */
export function scanTar(file: string, label: string): Map<string, Member> {
  const result = native.tarMembers(file);
  if (result.failure) {
    const f = result.failure;
    if (f.code === 'EINVALIDTAR') throw new LayercopyError(`${label}: ${f.detail}`, { code: 'ERR_INVALID_IMAGE', path: file });
    throw errnoError({ errno: f.errno, syscall: f.syscall, path: file }, (name, description) => `${label}: ${f.syscall} ${file} failed: ${name} (${description})`);
  }
  return regularMembers(result.members, file, label);
}

/** The regular-file members of a scan, by name; a sparse one refused (its bytes in the archive are its data segments, not its contents). */
export function regularMembers(list: readonly TarMember[], file: string, label: string): Map<string, Member> {
  const members = new Map<string, Member>();
  for (const m of list) {
    if (m.type === 'S')
      throw new LayercopyError(`${label}: member ${m.name} is a sparse file, which cannot be read out of the archive by offset`, { code: 'ERR_INVALID_IMAGE', path: file });
    if (m.type === '0') members.set(m.name.replace(/^\.\//, ''), { offset: m.offset, size: m.size, name: m.name });
  }
  return members;
}

/** A member's data, read whole (manifests, indexes, configs: small, at most `limit`); a file that no longer holds it is cut short. */
export function readMember(file: string, m: Member, limit = JSON_LIMIT): Buffer {
  if (m.size > limit) {
    throw new LayercopyError(`${file}: ${named(m)} is ${m.size} bytes, more than the ${limit} a manifest, index or config may be`, {
      code: 'ERR_INVALID_IMAGE',
      path: file,
    });
  }
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  try {
    const buf = Buffer.alloc(m.size);
    for (let got = 0; got < m.size; ) {
      const n = fs.readSync(fd, buf, got, m.size - got, m.offset + got);
      if (n === 0) {
        throw new LayercopyError(`${file}: the archive is cut short: ${named(m)} needs ${m.size} bytes at offset ${m.offset}, the file ends at ${m.offset + got}`, {
          code: 'ERR_INVALID_IMAGE',
          path: file,
        });
      }
      got += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** A member as messages name it: by its name where known, else by where it starts. */
function named(m: Member): string {
  return m.name === undefined ? `a member at offset ${m.offset}` : `member ${m.name}`;
}
