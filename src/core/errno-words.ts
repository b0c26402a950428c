// How a failed system call is told to a person, as cp tells it
// ("cannot create directory 'out/nb': Permission denied"): the errno's
// description first, its name after, and a hint where this user may not
// write there.

/** The errno names that say this user may not write there. */
export const UNWRITABLE: readonly string[] = ['EACCES', 'EPERM', 'EROFS'];

/** "Permission denied (EACCES)", from the name and description systemError gives. */
export function errnoWords(name: string, description: string): string {
  return `${description[0].toUpperCase()}${description.slice(1)} (${name})`;
}
