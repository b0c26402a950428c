// Signals during a large provision (docs/reliability.md).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { SIGNAL_BURST_MS } from '../../src/cli/signals.js';
import { buildLayer, exists, scratch } from '../helpers.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
let dir: string;
let layer: string;

beforeAll(() => {
  dir = scratch();
  // Large enough that the copy is still running when the signal arrives.
  const spec: Record<string, string> = {};
  for (let i = 0; i < 20000; i++) spec[`d${i % 100}/f${i}`] = 'x'.repeat(i % 300);
  layer = buildLayer(path.join(dir, 'layer'), spec);
}, 120_000);

async function waitForStaging(parent: string, name: string, timeoutMs = 20_000): Promise<string> {
  const start = Date.now();
  for (;;) {
    const found = fs.readdirSync(parent).find((n) => n.startsWith(`.${name}.layercopy-`));
    if (found && fs.readdirSync(path.join(parent, found)).length > 0) return found;
    if (Date.now() - start > timeoutMs) throw new Error('staging directory never appeared');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('signals', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s during a provision: exit %i promptly, staging removed, no rootfs', async (signal, status) => {
    const parent = fs.mkdtempSync(path.join(dir, 'sig-'));
    const child = execa('node', [cli, 'provision', '--batch-size', '16', layer, path.join(parent, 'root')], { reject: false });
    await waitForStaging(parent, 'root');
    const sent = Date.now();
    child.kill(signal);
    const r = await child;
    const elapsed = Date.now() - sent;
    console.log(`${signal}: exited ${r.exitCode} ${elapsed} ms after the signal`);
    expect(r.exitCode).toBe(status);
    expect(r.stderr).toMatch(/provision aborted/);
    expect(fs.readdirSync(parent)).toEqual([]);
    // Promptly: seconds, not the rest of the copy (reported, not a timing assertion on speed).
    expect(elapsed).toBeLessThan(10_000);
  });

  it('SIGKILL leaves a staging directory that the next provision recognises and removes', async () => {
    const parent = fs.mkdtempSync(path.join(dir, 'kill-'));
    const child = execa('node', [cli, 'provision', '--batch-size', '16', layer, path.join(parent, 'root')], { reject: false });
    const stale = await waitForStaging(parent, 'root');
    child.kill('SIGKILL');
    await child;
    expect(fs.readdirSync(parent)).toEqual([stale]);
    const r = await execa('node', [cli, 'provision', '--quiet', layer, path.join(parent, 'root')], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(fs.readdirSync(parent)).toEqual(['root']);
  });

  it('destroy also removes a stale staging directory left by SIGKILL', async () => {
    const parent = fs.mkdtempSync(path.join(dir, 'kill2-'));
    const child = execa('node', [cli, 'provision', '--batch-size', '16', layer, path.join(parent, 'root')], { reject: false });
    await waitForStaging(parent, 'root');
    child.kill('SIGKILL');
    await child;
    const stale = fs.readdirSync(parent);
    const r = await execa('node', [cli, 'destroy', path.join(parent, 'root')], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`removed ${path.join(parent, stale[0])}, left by an interrupted provision (pid ${child.pid})`);
    expect(fs.readdirSync(parent)).toEqual([]);
    expect(exists(path.join(parent, 'root'))).toBe(false);
  });
});

describe('SIGHUP and a second signal', () => {
  it('SIGHUP (closed terminal) during a provision: exit 129, staging removed, no rootfs', async () => {
    const parent = fs.mkdtempSync(path.join(dir, 'hup-'));
    const child = execa('node', [cli, 'provision', '--batch-size', '16', layer, path.join(parent, 'root')], { reject: false });
    await waitForStaging(parent, 'root');
    child.kill('SIGHUP');
    const r = await child;
    expect(r.exitCode).toBe(129);
    expect(r.stderr).toMatch(/provision aborted/);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('the same SIGINT twice at once (process and group, as timeout and a shell deliver it) is one interrupt: staging removed, exit 130', async () => {
    const parent = fs.mkdtempSync(path.join(dir, 'twice-'));
    const child = execa('node', [cli, 'provision', '--batch-size', '16', layer, path.join(parent, 'root')], { reject: false });
    await waitForStaging(parent, 'root');
    child.kill('SIGINT');
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(r.stderr).toMatch(/provision aborted/);
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('a separate second SIGINT exits 130 at once; what is left, the next provision removes and names', async () => {
    const parent = fs.mkdtempSync(path.join(dir, 'again-'));
    const child = execa('node', [cli, 'provision', '--batch-size', '16', layer, path.join(parent, 'root')], { reject: false });
    await waitForStaging(parent, 'root');
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, SIGNAL_BURST_MS + 50));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(exists(path.join(parent, 'root'))).toBe(false);
    const left = fs.readdirSync(parent);
    const again = await execa('node', [cli, 'provision', layer, path.join(parent, 'root')], { reject: false });
    expect(again.exitCode, again.stderr).toBe(0);
    for (const name of left) expect(again.stderr).toContain(`removed ${path.join(parent, name)}, left by an interrupted provision (pid ${child.pid})`);
    expect(fs.readdirSync(parent)).toEqual(['root']);
  });
});

describe('signal bursts at every point of a provision', () => {
  // timeout(1) sends its signal to the child and then to the child's process
  // group: a burst of two. Delays rise through the whole provision, startup,
  // commit and exit included; whatever the moment, the exit status must agree
  // with the disk: 0 with a complete ROOTFS, non-zero with nothing at all.
  it.each(['INT', 'HUP'])(
    'SIG%s through timeout(1) with rising delays: status and disk always agree',
    async (sig) => {
      const start = performance.now();
      const probe = await execa('node', [cli, 'provision', '-q', layer, path.join(fs.mkdtempSync(path.join(dir, 'probe-')), 'root')]);
      const full = performance.now() - start;
      expect(probe.exitCode).toBe(0);
      const outcomes: string[] = [];
      // Six through the run, eight around its end, where the commit and the
      // pool's shutdown lie (a signal there once exited 130 after the commit).
      for (const fraction of [0.15, 0.3, 0.45, 0.6, 0.7, 0.8, 0.86, 0.9, 0.94, 0.98, 1.02, 1.06, 1.1, 1.15]) {
        const delay = ((full * fraction) / 1000).toFixed(3);
        const parent = fs.mkdtempSync(path.join(dir, `burst-${sig}-`));
        const rootfs = path.join(parent, 'root');
        const r = await execa('timeout', ['--preserve-status', '-s', sig, delay, 'node', cli, 'provision', '-q', layer, rootfs], { reject: false });
        const left = fs.readdirSync(parent);
        outcomes.push(`${delay}s:${r.exitCode}`);
        if (r.exitCode === 0) {
          expect(left, `${delay} s`).toEqual(['root']);
          expect(fs.readdirSync(rootfs)).toHaveLength(100);
        } else {
          expect(r.exitCode, `${delay} s: ${r.stderr}`).toBe(sig === 'INT' ? 130 : 129);
          expect(left, `${delay} s: ${r.stderr}`).toEqual([]);
        }
      }
      console.log(`SIG${sig} bursts (full run ${full.toFixed(0)} ms): ${outcomes.join(' ')}`);
    },
    60_000,
  );
});
