import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { pidRuns } from '../../src/core/processes.js';
import { hasCc } from '../fixtures/shim.js';
import { zombie } from '../fixtures/zombie.js';
import { scratch } from '../helpers.js';

describe('pidRuns', () => {
  it('this process runs; a pid nothing holds does not', () => {
    expect([pidRuns(process.pid), pidRuns(999_999_999)]).toEqual([true, false]);
  });

  it.runIf(hasCc())('a process whose main thread ended (pthread_exit) while another runs: its leader shows Z, and it runs [needs cc]', async () => {
    const dir = scratch();
    const src = path.join(dir, 'leader.c');
    fs.writeFileSync(
      src,
      '#include <pthread.h>\n#include <unistd.h>\nstatic void *run(void *a) { (void)a; sleep(30); return 0; }\nint main(void) { pthread_t t; pthread_create(&t, 0, run, 0); pthread_exit(0); }\n',
    );
    execFileSync('cc', ['-o', path.join(dir, 'leader'), src, '-lpthread']);
    const child = execa(path.join(dir, 'leader'), { reject: false });
    try {
      const state = () => fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1][0];
      for (let i = 0; i < 200 && state() !== 'Z'; i++) await new Promise((r) => setTimeout(r, 10));
      expect([state(), pidRuns(child.pid!)]).toEqual(['Z', true]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a killed process its parent has not reaped yet (a zombie) does not run', async () => {
    const z = await zombie();
    try {
      expect(pidRuns(z.pid)).toBe(false);
    } finally {
      z.stop();
    }
  });
});
