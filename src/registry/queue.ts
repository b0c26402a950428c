let queueModule: Promise<typeof import('p-queue').default> | undefined;

/**
 * p-queue, loaded on first need: a static import cost every provision,
 * directory layers too, ~6 ms of CPU at start-up (docs/benchmarks.md,
 * "Figures behind the code: Startup"). A pull asks for it as it starts
 * resolving the image, while the manifest is on its way: loaded after the
 * config, its import held the blob requests back (40-100 ms of wall at a
 * load of 6, from node_modules; bundled now, 2-8 ms).
 */
export function loadQueue(): Promise<typeof import('p-queue').default> {
  queueModule ??= import('p-queue').then((m) => m.default);
  return queueModule;
}
