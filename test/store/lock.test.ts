// The store's locks: flock(2) through the native helper, waited for off the
// event loop, released by a process's death, and taken again when prune
// removed the file under a waiter.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { StoreLock } from '../../src/store/lock.js';
import { scratch } from '../helpers.js';

const EWOULDBLOCK = 11;

describe('store locks', () => {
  it('flock waits on a libuv thread: the event loop runs meanwhile; flockTry never waits', async () => {
    const file = path.join(scratch(), 'lock');
    const a = fs.openSync(file, 'w');
    const b = fs.openSync(file, 'r');
    try {
      expect(await native.flock(a, true, true)).toBe(0);
      expect(native.flockTry(b, 'sh')).toBe(EWOULDBLOCK);
      expect(await native.flock(b, false, false)).toBe(EWOULDBLOCK);
      // Released from the event loop's sixth tick: the wait ends only if
      // the loop ran while flock waited (a timer at 100 ms counted ticks
      // that a loaded machine need not run in that time).
      let ticks = 0;
      const timer = setInterval(() => {
        if (++ticks === 6) native.flockTry(a, 'un');
      }, 5);
      expect(await native.flock(b, false, true)).toBe(0);
      clearInterval(timer);
      expect(ticks).toBeGreaterThan(5);
      // Shared with shared: both held.
      expect(native.flockTry(a, 'sh')).toBe(0);
    } finally {
      fs.closeSync(a);
      fs.closeSync(b);
    }
  });

  it("a killed holder's lock is released: the waiter gets it", async () => {
    const file = path.join(scratch(), 'lock');
    // -o: the lock stays with flock itself, not its sleeping child, so killing it is the holder's death.
    const child = spawn('flock', ['-o', '-x', file, 'sleep', '30'], { stdio: 'ignore' });
    try {
      // flock runs its command only once it holds the lock: its child is the
      // sign (the file exists before the lock is taken).
      const children = `/proc/${child.pid}/task/${child.pid}/children`;
      for (let i = 0; i < 2000 && (!fs.existsSync(children) || fs.readFileSync(children, 'utf8').trim() === ''); i++) await new Promise((r) => setTimeout(r, 10));
      expect(await StoreLock.acquire(file, 'sh', { wait: false })).toBeUndefined();
      let waited = 0;
      const taken = StoreLock.acquire(file, 'ex', { wait: true, onWait: (ms) => (waited = ms) });
      await new Promise((r) => setTimeout(r, 150));
      child.kill('SIGKILL');
      const lock = await taken;
      expect(lock?.mode).toBe('ex');
      expect(waited).toBeGreaterThan(100);
      lock?.release();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a lock file removed (prune) while another waited on it: the waiter takes the lock again on the new file', async () => {
    const file = path.join(scratch(), 'lock');
    const pruner = (await StoreLock.acquire(file, 'ex', { wait: false }))!;
    const waiter = StoreLock.acquire(file, 'sh', { wait: true });
    await new Promise((r) => setTimeout(r, 50));
    const before = fs.statSync(file).ino;
    pruner.unlink();
    pruner.release();
    const lock = (await waiter)!;
    // Held on the file now at the name: a third party's exclusive lock must fail.
    expect(fs.statSync(file).ino).not.toBe(before);
    expect(await StoreLock.acquire(file, 'ex', { wait: false })).toBeUndefined();
    lock.release();
    expect(await StoreLock.acquire(file, 'ex', { wait: false })).toBeDefined();
  });

  it('an abort ends a wait at once', async () => {
    const file = path.join(scratch(), 'lock');
    const holder = (await StoreLock.acquire(file, 'ex', { wait: false }))!;
    const controller = new AbortController();
    const waiting = StoreLock.acquire(file, 'sh', { wait: true, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(waiting).rejects.toMatchObject({ code: 'ABORT_ERR' });
    holder.release();
  });
});
