// Entry names are arbitrary bytes (anything but '/' and NUL), not UTF-8. The
// planner and the native step carry relative paths as "binary" strings, one
// char per byte (latin1), so a name like b"\xff\n" survives unchanged; every
// filesystem call on them is made by the native helper.

/** Human-readable form of a rel under a root, for messages (invalid UTF-8 shows as U+FFFD). */
export function displayPath(root: string, rel: string): string {
  if (rel === '') return root;
  // Joined, not normalized: a tar name as written ("a/../../escape") is what the user looks for.
  const name = Buffer.from(rel, 'latin1').toString('utf8').replace(/^\/+/, '');
  return root.endsWith('/') ? `${root}${name}` : `${root}/${name}`;
}

/** Whether absolute path `child` is `parent` or lies beneath it (by name: symlinks are the caller's to resolve). */
export function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
}

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** A batch's rels as one string, each followed by a NUL (a name never holds one): one string crosses threads far cheaper than an array of them. */
export function packRels(rels: readonly string[]): string {
  return rels.length === 0 ? '' : `${rels.join('\0')}\0`;
}

/** '.' or '..' where a path as given ends in one ("a/b/..", "./"), else undefined: such a path names a directory by where the caller stands. */
export function dotEnding(given: string): '.' | '..' | undefined {
  const last = given.replace(/\/+$/, '').split('/').pop();
  return last === '.' || last === '..' ? last : undefined;
}

/** The working directory, or undefined where it was removed (process.cwd() throws ENOENT then). */
export function workingDirectory(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}
