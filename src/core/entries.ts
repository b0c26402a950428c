// The shapes of a native directory listing, shared by the planners and the batches.

/**
 * Entry type letters shared with the native step (its constants.entryTypes,
 * checked equal by a test): regular file, directory, symlink, char and block
 * device, FIFO, socket; listings say '?' for anything else.
 */
export const ENTRY_TYPES = ['f', 'd', 'l', 'c', 'b', 'p', 's'] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export interface Listing {
  names: string[];
  types: string;
}

/**
 * The non-directories of a directory without markers, straight from the
 * native listing (listDir's split form): names packed, each followed by a
 * NUL, one type letter each. A directory of 5,000 files then costs the
 * planner a few strings, not 5,000.
 */
export interface PackedCopies {
  names: string;
  types: string;
}

/** Names of a packed string (each followed by a NUL). */
export function unpack(packed: string): string[] {
  return packed === '' ? [] : packed.slice(0, -1).split('\0');
}
