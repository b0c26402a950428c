// OCI layouts written to make the reader spin or stumble: indexes fanned out
// over one child, JSON of the wrong shape. Each ends at once with a coded
// error naming the layout, and nothing is left. Run through the CLI: a
// reader that spins holds its thread, so only a child process can be given up.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { scratch } from '../helpers.js';
import { addImage, rawTar, writeBlob, writeIndex } from './fixtures.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const INDEX = 'application/vnd.oci.image.index.v1+json';

/** Provisions through the CLI, killed after 60 s; its exit status, its JSON error, what is left beside the rootfs. */
async function provisionCli(dir: string, layer: string) {
  const r = await execa('node', [cli, 'provision', '--json', layer, path.join(dir, 'root')], { reject: false, timeout: 60_000 });
  const error = r.stdout ? JSON.parse(r.stdout).error : undefined;
  return { status: r.exitCode, error, left: fs.readdirSync(dir).filter((n) => n === 'root' || n.includes('layercopy')) };
}

describe('nested indexes', () => {
  it('an index listing one child index 10,000 times, which lists one manifest as often: each read once, the platforms listed once', async () => {
    const dir = scratch();
    const layout = path.join(dir, 'img');
    const manifest = { ...addImage(layout, { layers: [rawTar([{ name: 'a', data: 'a' }])] }), platform: { os: 'linux', architecture: 'arm64' } };
    const fan = (child: object) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: INDEX, manifests: Array(10_000).fill(child) }));
    const inner = { mediaType: INDEX, ...writeBlob(layout, fan(manifest)) };
    writeIndex(layout, [{ mediaType: INDEX, ...writeBlob(layout, fan(inner)), ref: 't' }]);
    const r = await provisionCli(dir, `oci:${layout}:t`);
    expect(r.status).toBe(1);
    expect(r.error).toMatchObject({ code: 'ERR_IMAGE_NOT_FOUND' });
    expect(r.error.message).toMatch(/no image for linux\/\w+; there are: linux\/arm64 \(choose with --platform\)$/);
    expect(r.left).toEqual([]);
  }, 70_000);
});
