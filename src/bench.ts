export async function runBench(_args: string[], _values: Record<string, unknown>): Promise<number> {
  throw new Error('bench: not built yet');
}
