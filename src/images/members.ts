import fs from 'node:fs';
import { LayercopyError } from '../core/errors.js';

// The members of an uncompressed tar (a docker-archive, an oci-archive), found
// by reading its headers only; each member is then read, or streamed, by offset.

export interface Member {
  offset: number;
  size: number;
}

/** Regular-file members of an uncompressed tar by name: headers read, data skipped. */
export function scanTar(file: string, label: string): Map<string, Member> {
  const fail = (message: string) => new LayercopyError(`${label}: ${message}`, { code: 'ERR_INVALID_IMAGE', path: file });
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const members = new Map<string, Member>();
  try {
    const size = fs.fstatSync(fd).size;
    const block = Buffer.alloc(512);
    let at = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    while (at + 512 <= size) {
      if (fs.readSync(fd, block, 0, 512, at) !== 512) throw fail('truncated archive');
      if (block.every((b) => b === 0)) break;
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
      if (sum !== Number.parseInt(block.subarray(148, 156).toString('latin1').trim() || '0', 8)) throw fail(`bad tar header checksum at byte ${at}`);
      const field = (from: number, len: number) =>
        block
          .subarray(from, from + len)
          .toString('latin1')
          .replace(/\0.*$/s, '');
      const bytes = Number.parseInt(field(124, 12).trim() || '0', 8);
      const type = field(156, 1) || '0';
      const data = at + 512;
      const readData = () => {
        const buf = Buffer.alloc(bytes);
        fs.readSync(fd, buf, 0, bytes, data);
        return buf;
      };
      if (type === 'L') longName = readData().toString('latin1').replace(/\0.*$/s, '');
      else if (type === 'x') paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(readData().toString('latin1'))?.[1];
      else {
        const prefix = field(345, 155);
        const name = paxPath ?? longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
        if (type === '0' || type === '7') members.set(name.replace(/^\.\//, ''), { offset: data, size: bytes });
        longName = paxPath = undefined;
      }
      at = data + Math.ceil(bytes / 512) * 512;
    }
  } finally {
    fs.closeSync(fd);
  }
  return members;
}

export function readMember(file: string, m: Member): Buffer {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(m.size);
    fs.readSync(fd, buf, 0, m.size, m.offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}
