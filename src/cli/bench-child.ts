// One timed provision in a process of its own, so its peak RSS (worker
// threads included) can be read: used by `layercopy bench` and bench/run.ts.
// argv[2]: JSON { method: 'layercopy', layers, rootfs, concurrency?, batchSize? }
import { performance } from 'node:perf_hooks';
import { CopyBackend } from '../backend.js';
import type { BatchSize, Strategy } from '../core/options.js';

export interface ChildRequest {
  method: 'layercopy' | 'seed';
  layers: string[];
  rootfs: string;
  concurrency?: number;
  batchSize?: BatchSize;
  strategy?: Strategy;
  /** --uid-map/--gid-map flags (layercopy runs as its CLI). */
  idMapArgs?: string[];
  /** --owners, --devices, --strict, as given to bench. */
  policyArgs?: string[];
  /** docker://: the registry flags (--creds, --tls-verify=false …), as the user gave them to bench. */
  registryArgs?: string[];
}

export interface ChildResult {
  /** The provision call, pool start included (what an agent embedding the library sees). */
  ms: number;
  maxRssKb: number;
  entries?: number;
  bytes?: number;
}

async function main(request: ChildRequest): Promise<ChildResult> {
  const start = performance.now();
  if (request.method !== 'layercopy') throw new Error(`bench-child runs layercopy only (the ${request.method} baseline runs as its own program)`);
  const backend = new CopyBackend({ concurrency: request.concurrency });
  try {
    const summary = await backend.provision(request.layers, request.rootfs, { batchSize: request.batchSize, strategy: request.strategy });
    const ms = performance.now() - start;
    return { ms, maxRssKb: process.resourceUsage().maxRSS, entries: summary.entries, bytes: summary.bytes };
  } finally {
    await backend.close();
  }
}

main(JSON.parse(process.argv[2])).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error) => {
    process.stderr.write(`bench-child: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
