import { describe, expect, it } from 'vitest';
import { interruptHandler, SIGNAL_BURST_MS } from '../../src/cli/signals.js';

describe('interruptHandler', () => {
  function harness() {
    let clock = 0;
    const calls: string[] = [];
    const controller = new AbortController();
    const h = interruptHandler(controller, {
      shutdown: () => calls.push('shutdown'),
      exit: (s) => calls.push(`exit ${s}`),
      now: () => clock,
      log: (line) => calls.push(line.trim()),
    });
    return { h, controller, calls, advance: (ms: number) => (clock += ms) };
  }

  it('the first signal aborts; repeats within the burst window are the same interrupt', () => {
    const { h, controller, calls, advance } = harness();
    h.onSignal('SIGINT');
    advance(SIGNAL_BURST_MS - 1);
    h.onSignal('SIGINT');
    h.onSignal('SIGHUP');
    expect(controller.signal.aborted).toBe(true);
    expect(calls).toEqual([]);
    expect(h.status()).toBe(130);
  });

  it('a separate later signal shuts the native loops down and exits with its own status', () => {
    const { h, calls, advance } = harness();
    h.onSignal('SIGHUP');
    advance(SIGNAL_BURST_MS);
    h.onSignal('SIGTERM');
    expect(calls).toEqual(['shutdown', 'layercopy: received SIGTERM again: exiting now; the next provision or destroy of this ROOTFS removes what is left', 'exit 143']);
  });

  it('after the commit every signal is ignored: the provision succeeded', () => {
    const { h, controller, calls, advance } = harness();
    h.committed();
    h.onSignal('SIGINT');
    advance(1000);
    h.onSignal('SIGINT');
    expect(controller.signal.aborted).toBe(false);
    expect(calls).toEqual([]);
    expect(h.status()).toBeUndefined();
  });
});
