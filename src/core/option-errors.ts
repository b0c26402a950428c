import { LayercopyError } from './errors.js';

/**
 * A value a caller gave, as an option's message shows it: a string quoted
 * (`(got '2')` for the string '2', which `(got 2)` made look valid), an
 * object as JSON where it can be, the rest as String() gives it.
 */
export function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    try {
      return JSON.stringify(value) ?? String(value);
    } catch {
      return String(value);
    }
  }
  return Array.isArray(value) ? JSON.stringify(value) : String(value);
}

/** An option's check failed: ERR_INVALID_OPTION, the message naming the option (`options.NAME …`). */
export function invalidOption(message: string): LayercopyError {
  return new LayercopyError(message, { code: 'ERR_INVALID_OPTION' });
}
