import { describe, expect, it } from 'vitest';
import { formatProgress, formatSummary } from '../../src/cli/output.js';

describe('the progress line', () => {
  const p = { phase: 'copy' as const, layerIndex: 1, layers: 4, layer: '/l', entries: 123456, bytes: 98_700_000 };
  it('shows the phase, layer, totals and elapsed time', () => {
    expect(formatProgress(p, 2500, 200)).toBe('copy · layer 2/4 · 123,456 entries · 98.7 MB · 2.5 s');
  });
  it('while extracting: all layers together (read at once), whichever layer the event came from', () => {
    const e = { phase: 'extract' as const, layerIndex: 0, layers: 2, layer: 'x.tgz', entries: 0, bytes: 60_000_000, read: 45_000_000, size: 130_000_000, total: 150_000_000 };
    expect(formatProgress(e, 1200, 200)).toBe('extract · 60.0 MB of 150.0 MB read · 1.2 s');
    expect(formatProgress({ ...e, layerIndex: 1, read: 15_000_000, size: 20_000_000 }, 1200, 200)).toBe('extract · 60.0 MB of 150.0 MB read · 1.2 s');
  });
  it.each([40, 20, 5])('fits a %i-column terminal (no wrap, so no stacked lines)', (columns) => {
    expect(formatProgress(p, 2500, columns).length).toBeLessThanOrEqual(Math.max(10, columns - 1));
  });
});

const none = { count: 0, paths: [] };
const noChanges = {
  owners: 'keep' as const,
  devices: 'error' as const,
  ownersRecorded: none,
  ownersDropped: none,
  devicesEmptied: none,
  devicesSkipped: none,
  xattrsSkipped: none,
  specialBitsCleared: none,
};

describe('the summary', () => {
  const base = {
    rootfs: '/r',
    layers: 1,
    strategy: 'merged' as const,
    entries: 1,
    bytes: 1,
    directories: 0,
    hardlinks: 0,
    whiteouts: 0,
    replaced: 0,
    staleRemoved: [],
    rootless: noChanges,
    images: [],
    timings: { resolveMs: 30, extractMs: 10_040, walkMs: 460, copyMs: 550, finishMs: 20, commitMs: 1, cleanupMs: 40, totalMs: 11_141 },
  };
  it('shows the phases that add up to the time, extract and cleanup where there were tarball layers', () => {
    const tar = formatSummary({ ...base, perLayer: [{ layer: 'oci:/i', entries: 1, bytes: 1, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0, extractMs: 10_000 }] });
    expect(tar).toMatch(/time {6}11\.14 s \(resolve 0\.03 \+ extract 10\.04 \+ walk 0\.46 \+ copy 0\.55 \+ finish 0\.02 \+ commit 0\.00 \+ cleanup 0\.04\)$/);
    const dirs = formatSummary({ ...base, perLayer: [{ layer: '/l', entries: 1, bytes: 1, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0 }] });
    expect(dirs).toMatch(/\(resolve 0\.03 \+ walk 0\.46 \+ copy 0\.55 \+ finish 0\.02 \+ commit 0\.00\)$/);
  });
  it('says one directory and one hardlink in the singular', () => {
    const layer = { layer: '/l', entries: 1, bytes: 1, directories: 1, hardlinks: 1, whiteouts: 0, replaced: 0 };
    expect(formatSummary({ ...base, directories: 1, hardlinks: 1, perLayer: [layer] })).toContain('\n  entries   1 (1 directory, 1 hardlink), 0.0 MB\n');
  });
  it("names each image argument's manifest and platform, on a line of its own", () => {
    const layer = { layer: 'oci:/i', entries: 1, bytes: 1, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0 };
    const text = formatSummary({ ...base, perLayer: [layer], images: [{ reference: 'docker://r/app:1', digest: `sha256:${'a'.repeat(64)}`, platform: 'linux/arm64/v8' }] });
    expect(text).toContain(`\n  image     docker://r/app:1: sha256:${'a'.repeat(64)} (linux/arm64/v8)\n`);
  });

  it('with a store: its line, and the extract phase where it extracted layers', () => {
    const layer = { layer: 'oci:/i', entries: 1, bytes: 1, directories: 0, hardlinks: 0, whiteouts: 0, replaced: 0 };
    const cold = formatSummary({ ...base, perLayer: [layer], store: { blobsFetched: 1, layersExtracted: 1, layersReused: 2, waitedMs: 1500 } });
    expect(cold).toMatch(/\(resolve 0\.03 \+ extract 10\.04 \+ walk .*\)\n {2}store {5}2 layers reused, 1 extracted, 1 blob fetched, waited 1\.50 s for others$/);
    const warm = formatSummary({ ...base, perLayer: [layer], store: { blobsFetched: 0, layersExtracted: 0, layersReused: 3, waitedMs: 0 } });
    expect(warm).toMatch(/\(resolve 0\.03 \+ walk .*\)\n {2}store {5}3 layers reused, 0 extracted, 0 blobs fetched$/);
  });
});

describe('the progress line of a pull', () => {
  it('shows bytes downloaded of the blobs and bytes extracted', () => {
    const e = { phase: 'extract' as const, layerIndex: 0, layers: 2, layer: 'docker://x', entries: 0, bytes: 40_000_000, total: 150_000_000, downloaded: 90_000_000 };
    expect(formatProgress(e, 1200, 200)).toBe('pull · 90.0 MB of 150.0 MB downloaded · 40.0 MB extracted · 1.2 s');
  });
});
