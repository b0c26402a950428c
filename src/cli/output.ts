// What the CLI shows a person: the summary, the progress line, names made
// safe for a terminal. Results go to stdout, progress and logs to stderr.
import path from 'node:path';
import type { Progress } from '../core/options.js';
import { parseStagingName } from '../core/staging-name.js';
import type { ProvisionSummary } from '../provision.js';

/**
 * Text for a terminal: entry names come from layers (untrusted) and may hold
 * newlines or escape sequences that would forge lines or drive the
 * terminal. Control characters and C1 codes are shown as C escapes (\n,
 * \t, \e, \xHH), as GNU tools quote them; --json output is left alone.
 */
export function escapeForTerminal(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    if (code === 0x1b) return '\\e';
    return `\\x${code.toString(16).padStart(2, '0')}`;
  });
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
// Not toLocaleString: its first call loads ICU data (docs/benchmarks.md, "Figures behind the code: Startup").
const n = (v: number) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const s = (ms: number) => (ms / 1000).toFixed(2);

/** The disjoint phases that add up to the total; extract and cleanup only where there were tarball layers. */
function phases(r: ProvisionSummary): string {
  const t = r.timings;
  // A store's extractions have no per-layer time (they may be another process's): the phase shows where it took any.
  const tars = r.perLayer.some((l) => l.extractMs !== undefined) || (r.store?.layersExtracted ?? 0) > 0;
  const parts: [string, number][] = [
    ['resolve', t.resolveMs],
    ...(tars ? [['extract', t.extractMs] as [string, number]] : []),
    ['walk', t.walkMs],
    ['copy', t.copyMs],
    ['finish', t.finishMs],
    ['commit', t.commitMs],
    ...(tars ? [['cleanup', t.cleanupMs] as [string, number]] : []),
  ];
  return parts.map(([name, ms]) => `${name} ${s(ms)}`).join(' + ');
}

/** What the owners and devices modes changed, in words; undefined where they change nothing by design (keep, error) and changed nothing. */
export function rootlessLine(r: ProvisionSummary['rootless']): string | undefined {
  const words: [number, string, string][] = [
    [r.ownersRecorded.count, 'owner recorded in user.rootlesscontainers', 'owners recorded in user.rootlesscontainers'],
    [r.ownersDropped.count, 'owner dropped', 'owners dropped'],
    [r.devicesEmptied.count, 'device node written as an empty file', 'device nodes written as empty files'],
    [r.devicesSkipped.count, 'device node left out', 'device nodes left out'],
    [r.xattrsSkipped.count, 'xattr not set', 'xattrs not set'],
    [r.specialBitsCleared.count, 'setuid/setgid mode cleared', 'setuid/setgid modes cleared'],
  ];
  const changed = words.filter(([count]) => count > 0).map(([count, one, many]) => `${n(count)} ${count === 1 ? one : many}`);
  if (changed.length === 0 && r.owners === 'keep' && r.devices === 'error') return undefined;
  return `--owners ${r.owners}, --devices ${r.devices}: ${changed.length > 0 ? changed.join(', ') : 'nothing changed'}`;
}

export function formatSummary(r: ProvisionSummary): string {
  const t = r.timings;
  const rootless = rootlessLine(r.rootless);
  return [
    `provisioned ${r.rootfs} from ${r.layers} layer${r.layers === 1 ? '' : 's'}`,
    `  entries   ${n(r.entries)} (${n(r.directories)} director${r.directories === 1 ? 'y' : 'ies'}, ${n(r.hardlinks)} hardlink${r.hardlinks === 1 ? '' : 's'}), ${mb(r.bytes)}`,
    `  whiteouts ${n(r.whiteouts)} applied, ${n(r.replaced)} ${r.replaced === 1 ? 'entry' : 'entries'} replaced`,
    ...(r.images ?? []).flatMap((i) => [
      `  image     ${escapeForTerminal(i.reference)}: ${i.digest}${i.platform ? ` (${escapeForTerminal(i.platform)})` : ''}${i.from ? ` from ${i.mirror ? 'the mirror ' : ''}${escapeForTerminal(i.from)}` : ''}`,
      // A mirror passed over in silence would hide a registries.conf mistake (a plain-HTTP mirror without insecure = true).
      ...(i.passedOver ?? []).map((p) => `  mirror    ${escapeForTerminal(p.host)} passed over: ${escapeForTerminal(p.why)}`),
    ]),
    ...(rootless ? [`  rootless  ${rootless}`] : []),
    `  time      ${s(t.totalMs)} s (${phases(r)})`,
    ...(r.store ? [storeLine(r.store)] : []),
  ].join('\n');
}

function storeLine(st: NonNullable<ProvisionSummary['store']>): string {
  const waited = st.waitedMs > 0 ? `, waited ${s(st.waitedMs)} s for others` : '';
  return `  store     ${st.layersReused} layer${st.layersReused === 1 ? '' : 's'} reused, ${st.layersExtracted} extracted, ${st.blobsFetched} blob${st.blobsFetched === 1 ? '' : 's'} fetched${waited}`;
}

/** The status line: phase, layer, totals, elapsed time; at most columns - 1 characters. */
export function formatProgress(p: Progress, elapsedMs: number, columns: number): string {
  // Tarball layers are extracted at once: one line for all of them (naming whichever layer spoke last made the line jump between layers).
  const total = mb(p.total ?? p.size ?? 0);
  const extracting = p.downloaded === undefined ? `${mb(p.bytes)} of ${total} read` : `${mb(p.downloaded)} of ${total} downloaded · ${mb(p.bytes)} extracted`;
  const what = p.phase === 'extract' ? extracting : `layer ${p.layerIndex + 1}/${p.layers} · ${n(p.entries)} entries · ${mb(p.bytes)}`;
  const line = `${p.phase === 'extract' && p.downloaded !== undefined ? 'pull' : p.phase} · ${what} · ${(elapsedMs / 1000).toFixed(1)} s`;
  const width = Math.max(10, columns - 1);
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

/**
 * One status line on a terminal's stderr, redrawn at most every 100 ms: the
 * phase, the layer, totals and elapsed time, cut to the terminal's width so
 * it never wraps (a wrapped line would stack on every redraw).
 */
export function progressLine(): { update(p: Progress): void; done(): void } {
  if (!process.stderr.isTTY) return { update() {}, done() {} };
  let last = 0;
  const started = Date.now();
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.phase !== 'done') return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[K${formatProgress(p, now - started, process.stderr.columns || 80)}`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}

export function staleNote(stale: string): string {
  const pid = parseStagingName(path.basename(stale))?.pid;
  return `removed ${stale}, left by an interrupted provision${pid ? ` (pid ${pid})` : ''}`;
}
