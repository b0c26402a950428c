// `layercopy bench` owns its children and its scratch (docs/cli.md, bench):
// a signal ends whatever program it is timing, grandchildren included, and
// removes its scratch directory; a scratch left by a bench that no longer
// runs is removed by the next one.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { FORCE_KILL_AFTER_MS } from '../../src/cli/bench-group.js';
import { hasRegistry, pushImage, startFaultProxy, startRegistry, testImage } from '../fixtures/registry.js';
import { buildLayer, isRoot, scratch } from '../helpers.js';
import { hasUmoci } from '../images/fixtures.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));

interface Proc {
  pid: number;
  state: string;
  pgrp: number;
  argv: string[];
  env: string;
}

/** Every process now, from /proc (a zombie's argv and environment read empty). */
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const env = fs.readFileSync(`/proc/${name}/environ`, 'utf8');
      out.push({ pid: Number(name), state, pgrp: Number(pgrp), argv, env });
    } catch {
      // exited while it was read
    }
  }
  return out;
}

/** Processes that are not zombies: started by the bench (they carry its marker) or in its group. */
const leftOver = (mark: string, pgid: number) =>
  processes()
    .filter((p) => p.state !== 'Z' && (p.env.includes(mark) || p.pgrp === pgid))
    .map((p) => `${p.pid} ${p.state} ${p.argv.join(' ')}`);

async function waitFor<T>(what: string, get: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not seen in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const benchDirs = (parent: string) => fs.readdirSync(parent).filter((n) => n.startsWith('layercopy-bench-'));

describe('bench and signals', () => {
  let image: string;

  beforeAll(async () => {
    if (!hasUmoci) return;
    // One image whose umoci unpack takes a moment: a 64 MB file no gzip shrinks, and a few hundred small ones.
    const dir = scratch();
    const layout = path.join(dir, 'L');
    const bundle = path.join(dir, 'B');
    await execa('umoci', ['init', '--layout', layout]);
    await execa('umoci', ['new', '--image', `${layout}:t`]);
    // As another user umoci cannot chown: unpack --rootless (repack reads it from the bundle), as the bench's baseline does.
    const rootless = isRoot ? [] : ['--rootless'];
    await execa('umoci', ['unpack', ...rootless, '--image', `${layout}:t`, bundle]);
    fs.writeFileSync(path.join(bundle, 'rootfs/big'), crypto.randomBytes(64 << 20));
    for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(bundle, `rootfs/f${i}`), `${i}\n`);
    await execa('umoci', ['repack', '--image', `${layout}:t`, bundle]);
    image = `oci:${layout}:t`;
  });

  /**
   * Starts a bench on the image, in a process group of its own, its
   * processes marked by an environment variable they inherit; resolves once
   * its umoci unpack runs.
   */
  async function benchInUmoci(parent: string) {
    const mark = `LAYERCOPY_BENCH_TEST=${crypto.randomUUID()}`;
    const [key, value] = mark.split('=');
    const args = ['bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', 'auto', '--scratch', parent, image];
    const bench = execa('node', [cli, ...args], { detached: true, reject: false, env: { [key]: value } });
    const isUmoci = (p: Proc) => p.state !== 'Z' && p.env.includes(mark) && p.argv[0] === 'umoci' && p.argv[1] === 'unpack';
    const umoci = await waitFor('umoci unpack, started by the bench', () => processes().find(isUmoci));
    return { bench, mark, umoci };
  }

  /**
   * benchInUmoci with its umoci unpack stopped (SIGSTOP), in a scratch
   * directory of its own under `parent`. Under load an unpack can end
   * between being seen and being stopped, and a bench whose baseline ended
   * waits for nothing: such a try is killed and made again.
   */
  async function benchWithUmociStopped(parent: string) {
    for (let attempt = 1; ; attempt++) {
      const dir = path.join(parent, `try${attempt}`);
      fs.mkdirSync(dir);
      const run = await benchInUmoci(dir);
      process.kill(run.umoci.pid, 'SIGSTOP');
      const state = () => processes().find((p) => p.pid === run.umoci.pid)?.state;
      const stopped = await waitFor('umoci unpack stopped or gone', () => (state() === 'T' ? true : state() === undefined || state() === 'Z' ? false : undefined), 2000);
      if (stopped) return { ...run, parent: dir };
      if (attempt === 3) throw new Error('umoci unpack ended before it could be stopped, 3 times');
      process.kill(-run.bench.pid!, 'SIGKILL');
      await run.bench;
    }
  }

  it.runIf(hasUmoci).each([
    ['its process group', 'SIGINT', 130],
    ['the bench alone', 'SIGINT', 130],
    ['the bench alone', 'SIGTERM', 143],
    ['its process group', 'SIGHUP', 129],
  ] as const)('a signal to %s while umoci unpack runs (%s): exit %i, no process of it left, its scratch removed [needs umoci]', async (to, signal, status) => {
    const parent = scratch();
    const { bench, mark } = await benchInUmoci(parent);
    const pgid = bench.pid!;
    expect(benchDirs(parent)).toHaveLength(1);
    process.kill(to === 'its process group' ? -pgid : pgid, signal);
    const r = await bench;
    expect(r.exitCode, r.stderr).toBe(status);
    expect(r.stderr).toMatch(/bench interrupted: no program of it runs any more, and its scratch directory is removed/);
    expect(leftOver(mark, pgid)).toEqual([]);
    expect(benchDirs(parent)).toEqual([]);
  });

  it.runIf(hasUmoci)('a baseline that outlives SIGTERM is killed FORCE_KILL_AFTER_MS later, then the scratch is removed [needs umoci]', async () => {
    // Stopped, a process cannot act on SIGTERM.
    const { bench, mark, parent } = await benchWithUmociStopped(scratch());
    const sent = performance.now();
    bench.kill('SIGINT');
    const r = await bench;
    const elapsed = performance.now() - sent;
    expect(r.exitCode, r.stderr).toBe(130);
    expect(elapsed).toBeGreaterThanOrEqual(FORCE_KILL_AFTER_MS);
    expect(leftOver(mark, bench.pid!)).toEqual([]);
    expect(benchDirs(parent)).toEqual([]);
  });

  it.runIf(hasUmoci)('a second signal exits at once, its programs killed, and leaves the scratch for the next bench [needs umoci]', async () => {
    // Stopped, it holds the bench in its cleanup until FORCE_KILL_AFTER_MS: time for a second signal.
    const { bench, mark, parent } = await benchWithUmociStopped(scratch());
    bench.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 300));
    bench.kill('SIGINT');
    const r = await bench;
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/received SIGINT again: exiting now; the next bench on the same --scratch \(default \$TMPDIR\) removes what is left/);
    // SIGKILL was sent, not waited for: a moment for the kernel to end them.
    await waitFor('the end of every process of the bench', () => (leftOver(mark, bench.pid!).length === 0 ? true : undefined), 1000);
    expect(benchDirs(parent)).toEqual([expect.stringMatching(new RegExp(`^layercopy-bench-${bench.pid}-`))]);
  });

  it('removes a scratch directory whose bench no longer runs, and says so; a running one is left alone', async () => {
    const parent = scratch();
    const gone = execa('true');
    await gone;
    const stale = path.join(parent, `layercopy-bench-${gone.pid}-AbC123`);
    buildLayer(path.join(stale, 'rootfs'), { 'a/b': 'left by a killed bench' });
    const live = path.join(parent, `layercopy-bench-${process.pid}-XyZ789`);
    fs.mkdirSync(live);
    const layer = buildLayer(path.join(scratch(), 'l1'), { a: 'a' });
    const r = await execa('node', [cli, 'bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', '64', '--scratch', parent, layer], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`layercopy: removed a stale bench scratch ${stale} (its bench, pid ${gone.pid}, no longer runs)`);
    expect(r.stderr).not.toContain(live);
    expect(benchDirs(parent)).toEqual([path.basename(live)]);
  });

  it.runIf(hasRegistry)(
    'a signal while the skopeo copy of a docker:// baseline runs (a grandchild, under GNU time and sh): exit 130, nothing left [needs docker-registry, skopeo]',
    async () => {
      const registry = await startRegistry();
      await pushImage(testImage(path.join(scratch(), 'image'), { layers: 1, sizeMb: 4, seed: 41 }), registry, 'bench/slow:1');
      // A slow link: each skopeo copy takes seconds.
      const proxy = await startFaultProxy(registry.url, { rateBytesPerSec: 2 << 20 });
      const parent = scratch();
      const mark = `LAYERCOPY_BENCH_TEST=${crypto.randomUUID()}`;
      const [key, value] = mark.split('=');
      const args = ['bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', 'auto', '--tls-verify=false', '--scratch', parent];
      const bench = execa('node', [cli, ...args, `docker://${proxy.host}/bench/slow:1`], { detached: true, reject: false, env: { [key]: value } });
      // The timed baseline's skopeo (into rootfs.oci), not the untimed copy before the runs.
      const isTimedSkopeo = (p: Proc) => p.state !== 'Z' && p.env.includes(mark) && p.argv[0] === 'skopeo' && p.argv.some((a) => a.endsWith('rootfs.oci:bench'));
      await waitFor('the timed skopeo copy, started by the bench', () => processes().find(isTimedSkopeo), 30_000);
      process.kill(-bench.pid!, 'SIGINT');
      const r = await bench;
      expect(r.exitCode, r.stderr).toBe(130);
      expect(r.stderr).toMatch(/bench interrupted: no program of it runs any more, and its scratch directory is removed/);
      expect(leftOver(mark, bench.pid!)).toEqual([]);
      expect(benchDirs(parent)).toEqual([]);
    },
  );
});
