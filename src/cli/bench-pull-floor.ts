// The download floor of `layercopy bench docker://…`: every blob of the
// image fetched at once through layercopy's registry client (its auth, TLS,
// retries and Range resume: src/registry/download.ts), each byte through
// sha256 on this thread and the digest and size compared at the end,
// nothing decompressed or written. argv[2]: JSON { arg, platform?, pull }.
import crypto from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Platform } from '../core/options.js';
import { hostPlatform } from '../images/oci.js';
import { type PullOptions, resolveDocker } from '../registry/pull.js';

const request = JSON.parse(process.argv[2]) as { arg: string; platform?: Platform; pull: PullOptions };
const pulled = await resolveDocker(request.arg, 0, request.platform ?? hostPlatform(), request.pull);
try {
  await Promise.all(
    pulled.layers.map(async ({ tar, download }) => {
      const hash = crypto.createHash('sha256');
      let size = 0;
      // Where the download writes its spool file: the bytes hashed in order (a resumed download writes on from where it was).
      const sink = {
        writev: async (buffers: Buffer[], position: number) => {
          if (position !== size) throw new Error(`bench-pull-floor: a write at ${position}, ${size} bytes hashed`);
          for (const buffer of buffers) hash.update(buffer);
          const bytesWritten = buffers.reduce((n, b) => n + b.length, 0);
          size += bytesWritten;
          return { bytesWritten, buffers };
        },
      } as unknown as FileHandle;
      await download(sink, new BigInt64Array(2));
      const digest = `sha256:${hash.digest('hex')}`;
      if (digest !== tar.digest || (tar.size !== undefined && size !== tar.size)) {
        throw new Error(`bench-pull-floor: ${tar.label}: got ${digest} (${size} bytes), expected ${tar.digest} (${tar.size} bytes)`);
      }
    }),
  );
} finally {
  await pulled.close();
}
