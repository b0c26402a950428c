import type { TarLayer } from '../images/layer.js';
import { smallFirst } from '../images/run.js';

// The order a provision's downloads start in (src/registry/spool.ts), and
// the requests sent ahead of them (src/registry/pull.ts, src/provision.ts).

/** The downloads in the order they start: small layers first, as their extractions are (balance): one waiting for its download would hold an extraction's place. */
export function downloadOrder(layers: readonly { tar?: TarLayer; download?: unknown }[]): number[] {
  return [...layers.keys()].filter((i) => layers[i].download).sort(smallFirst((i) => layers[i].tar?.size ?? 0));
}

/**
 * The first `max` downloads' requests (the ones startDownloads starts at
 * once) sent now: their downloads take the answers. Sent from
 * startDownloads, they went out ~15 ms after the image was resolved, and
 * the registry took another 20-80 ms to a blob's first byte on two busy
 * cores, while the pump of the largest layer, the last to finish, waited.
 * A provision of one image sends them as soon as its manifest is read,
 * beside the config's request (src/registry/pull.ts: a round trip less,
 * -30 ms at 40 ms of round trip); others before their directories are made.
 */
export function requestEarly(layers: readonly { tar?: TarLayer; download?: unknown; request?: () => void }[], max: number): void {
  for (const i of downloadOrder(layers).slice(0, max)) layers[i].request?.();
}
