// Command-line argument helpers shared by the CLI and `layercopy bench`.

/** A usage error: one line, exit status 2. */
export class UsageError extends Error {}

export function positiveInt(flag: string, value: string | undefined, fallback?: number): number | undefined {
  if (value === undefined) return fallback;
  if (!/^[1-9][0-9]*$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} must be a positive integer (got '${value}')`);
  }
  return Number(value);
}

export function intList(flag: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  return value.split(',').map((v) => positiveInt(flag, v.trim())!);
}
