// `npm start`: builds a small three-layer sample image (whiteouts, an opaque
// directory, hardlinks, symlinks, a setuid file and an xattr) under
// .sample/, provisions it with layercopy and prints the summary.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSummary } from '../src/cli/output.js';
import { CopyBackend } from '../src/index.js';
import { buildLayer } from './layers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.sample');

export function buildSample(dir: string): string[] {
  fs.rmSync(dir, { recursive: true, force: true });
  const base = buildLayer(path.join(dir, 'layers/1-base'), {
    'bin/busybox': { file: '#!/bin/sh\necho busybox\n', mode: 0o755 },
    'bin/sh': { link: 'bin/busybox' },
    'bin/ls': { link: 'bin/busybox' },
    'bin/su': { file: 'su binary', mode: 0o4755 },
    'bin/ping': { file: 'ping binary', mode: 0o755, xattrs: { 'user.layercopy.sample': 'cap_net_raw' } },
    'etc/os-release': 'NAME="Sample"\n',
    'etc/motd': 'welcome\n',
    'etc/cache/old.db': 'stale cache',
    lib: { symlink: 'usr/lib' },
    'usr/lib/libc.so.6': { symlink: 'libc-2.36.so' },
    'usr/lib/libc-2.36.so': 'libc',
    tmp: { dir: true, mode: 0o1777 },
    'var/log/dpkg.log': 'log\n',
  });
  const update = buildLayer(path.join(dir, 'layers/2-update'), {
    'etc/.wh.motd': '',
    'etc/cache/.wh..wh..opq': '',
    'etc/cache/new.db': 'fresh cache',
    'var/log/.wh.dpkg.log': '',
    'usr/lib/libc-2.37.so': 'newer libc',
    'usr/lib/libc.so.6': { symlink: 'libc-2.37.so' },
  });
  const app = buildLayer(path.join(dir, 'layers/3-app'), {
    'app/server.js': 'console.log("hello")\n',
    'app/node_modules/left-pad/index.js': 'module.exports = () => {}\n',
    'app/node_modules/left-pad/package.json': '{"name":"left-pad"}\n',
    'bin/node': { file: 'node binary', mode: 0o755 },
    'etc/os-release': 'NAME="Sample App"\n',
  });
  return [base, update, app];
}

async function main() {
  const layers = buildSample(root);
  const rootfs = path.join(root, 'rootfs');
  const backend = new CopyBackend();
  try {
    const summary = await backend.provision(layers, rootfs);
    console.log(`layers: ${layers.map((l) => path.relative(process.cwd(), l)).join(' ')}`);
    console.log(formatSummary(summary));
    console.log(`try: ls -la ${path.relative(process.cwd(), rootfs)}/bin ${path.relative(process.cwd(), rootfs)}/etc`);
  } finally {
    await backend.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`sample: ${error.message}`);
    process.exitCode = 1;
  });
}
