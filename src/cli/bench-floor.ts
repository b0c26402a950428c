// The decompression floor of `layercopy bench` on images: every layer
// decompressed at once with the libraries layercopy uses (zlib; zstd as
// src/images/layer.ts picks it), writing nothing. argv[2]: JSON TarLayer[].
import fs from 'node:fs';
import zlib from 'node:zlib';
import { readHead, sniffCompression, type TarLayer, zstdChunks } from '../images/layer.js';

async function inflate(layer: TarLayer): Promise<void> {
  const kind = sniffCompression(readHead(layer.file, layer.start));
  const range = layer.start === undefined ? {} : { start: layer.start, end: layer.start + (layer.size ?? 0) - 1 };
  const input = fs.createReadStream(layer.file, { highWaterMark: 1 << 20, ...range });
  const out: AsyncIterable<Buffer> = kind === 'gzip' ? input.pipe(zlib.createGunzip({ chunkSize: 1 << 20 })) : kind === 'zstd' ? zstdChunks(input) : input;
  for await (const _ of out);
}

await Promise.all((JSON.parse(process.argv[2]) as TarLayer[]).map(inflate));
