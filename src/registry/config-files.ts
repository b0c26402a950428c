import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asLayercopyError, LayercopyError } from '../core/errors.js';

/** Which registries.conf files to read, in order: the main file, then its drop-ins (later ones override earlier ones per prefix). */
export interface RegistriesConfFiles {
  main: string;
  /** Whether a missing main file is an error (it was named by $CONTAINERS_REGISTRIES_CONF) or means no configuration. */
  required: boolean;
  dropIns: string[];
}

export const SYSTEM_REGISTRIES_CONF = '/etc/containers/registries.conf';

/**
 * Chooses the files as containers/image does (sysregistriesv2's
 * newConfigWrapper), except that `$CONTAINERS_REGISTRIES_CONF` (the
 * variable podman and skopeo read) is that file alone: a file named
 * explicitly is all that applies. Otherwise the user's
 * ~/.config/containers/registries.conf if it exists, with the user's drop-in
 * directory; else the system file, with the system's drop-in directory and
 * then the user's.
 */
export function registriesConfFiles(opts: { env?: NodeJS.ProcessEnv; home?: string; systemFile?: string } = {}): RegistriesConfFiles {
  const env = opts.env ?? process.env;
  const home = opts.home ?? os.homedir();
  const named = env.CONTAINERS_REGISTRIES_CONF;
  if (named !== undefined && named !== '') return { main: named, required: true, dropIns: [] };
  const userFile = path.join(home, '.config/containers/registries.conf');
  const userDir = `${userFile}.d`;
  if (fs.existsSync(userFile)) return { main: userFile, required: false, dropIns: dropIns([userDir]) };
  const systemFile = opts.systemFile ?? SYSTEM_REGISTRIES_CONF;
  return { main: systemFile, required: false, dropIns: dropIns([`${systemFile}.d`, userDir]) };
}

/** The `*.conf` files directly in each directory (not in subdirectories), sorted by name, directory by directory; a missing directory has none. */
function dropIns(dirs: string[]): string[] {
  return dirs.flatMap((dir) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw asLayercopyError(e, `reading the registries.conf drop-in directory ${dir}`);
    }
    return entries
      .filter((e) => e.name.endsWith('.conf') && !e.isDirectory())
      .map((e) => e.name)
      .sort() // libuv lists a directory sorted already; the order is containers/image's, so it is said here
      .map((name) => path.join(dir, name));
  });
}

/** A registries.conf file's text, or undefined where it is missing and may be. */
export function readConfFile(file: string, required: boolean): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw asLayercopyError(e, `reading ${file}`);
    if (!required) return undefined;
    throw new LayercopyError(`$CONTAINERS_REGISTRIES_CONF names ${file}, which does not exist`, { code: 'ERR_INVALID_ARGUMENT', path: file, cause: e });
  }
}
