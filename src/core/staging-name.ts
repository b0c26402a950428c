// The rootfs is assembled in a sibling directory named
//   .<basename(ROOTFS)>.layercopy-<pid>-<8 hex digits>
// (src/rootfs/staging.ts makes it) and renamed into place at the end. One
// whose pid no longer runs was left by a killed provision; the next
// provision or destroy of ROOTFS removes it, and the CLI names its pid.
const STAGING_RE = /^\.(.+)\.layercopy-(\d+)-[0-9a-f]{8}$/s;

/** What a staging directory's name says: the ROOTFS basename (latin1 bytes) and the pid that made it; undefined for other names. */
export function parseStagingName(name: string): { base: string; pid: number } | undefined {
  const m = STAGING_RE.exec(name);
  return m ? { base: m[1], pid: Number(m[2]) } : undefined;
}
