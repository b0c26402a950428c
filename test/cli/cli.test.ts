import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { native } from '../../src/core/native.cjs';
import { buildLayer, diffSnapshots, exists, isRoot, listTree, nobodyCanRun, scratch, snapshot } from '../helpers.js';
import { hasUmoci, ociImage, tarDir } from '../images/fixtures.js';

const cli = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
const run = (args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) => execa('node', [cli, ...args], { reject: false, ...options });

describe('layercopy CLI', () => {
  it('provisions and prints a summary on stdout', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'etc/a': 'a', 'etc/b': 'b' });
    const l2 = buildLayer(path.join(dir, 'l2'), { 'etc/.wh.a': '' });
    const r = await run(['provision', '--concurrency', '1', '--batch-size', '1', l1, l2, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^provisioned .*root from 2 layers/);
    expect(r.stdout).toMatch(/whiteouts 1 applied/);
    expect(listTree(path.join(dir, 'root'))).toEqual(['etc', 'etc/b']);
  });

  it('--json prints exactly one JSON object on stdout', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'abc' });
    const r = await run(['provision', '--json', l1, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ rootfs: path.join(dir, 'root'), layers: 1, entries: 1, bytes: 3 });
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('accepts relative paths', async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const r = await run(['provision', 'l1', 'root'], { cwd: dir });
    expect(r.exitCode).toBe(0);
    expect(exists(path.join(dir, 'root/a'))).toBe(true);
  });

  it('exits 1 with a one-line error naming the layer and path on failure', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'x/.wh..': '' });
    const r = await run(['provision', l1, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`layer 1 (${l1}): ${l1}/x/.wh..: invalid whiteout`);
    expect(r.stdout).toBe('');
    expect(fs.readdirSync(dir)).toEqual(['l1']);
  });

  it('exits 1 when ROOTFS is already provisioned (not empty), saying to destroy it first', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    buildLayer(path.join(dir, 'root'), { old: 'x' });
    const r = await run(['provision', l1, path.join(dir, 'root')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/already provisioned: .*root exists and is not empty; `layercopy destroy .*root` first/);
  });

  it.runIf(process.getuid?.() === 0)('refuses a ROOTFS that is a mount point: exit 2, the mount untouched [needs root: mount namespace]', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const root = path.join(dir, 'root');
    fs.mkdirSync(root);
    const script = `mount -t tmpfs none "$2" && node "$1" provision "$3" "$2"; s=$?; ls -A "$2"; exit $s`;
    const r = await execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', cli, root, l1], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/root is a mount point/);
    expect(r.stdout).toBe('');
  });

  it.each([
    [['provision', '--concurrency', '0', 'L', 'R'], /--concurrency must be a positive integer/],
    [['provision', '--batch-size', 'abc', 'L', 'R'], /--batch-size must be a positive integer or 'auto' \(got 'abc'\)/],
    [['bench', '--batch-size', 'auto,0', 'L'], /--batch-size must be a positive integer or 'auto' \(got '0'\)/],
    [['provision', '--frobnicate', 'L', 'R'], /^layercopy: unknown option '--frobnicate' \(a path that begins with '-': put it after '--', as in -- --frobnicate\)$/m],
    [['provision', 'L', 'R', '--concurrency'], /^layercopy: option --concurrency <value> needs a value$/m],
    [['provision', '--strict=yes', 'L', 'R'], /^layercopy: option --strict takes no value \(give --strict alone\)$/m],
    [['images', '--tls-verify=false'], /^layercopy: --tls-verify is not an option of images$/m],
    [['-v'], /^layercopy: unknown option '-v' \(the version is -V or --version\)$/m],
    [['provision', '--stratgy', 'layered', 'L', 'R'], /^layercopy: unknown option '--stratgy'; did you mean --strategy\?$/m],
    [['provision', '--batch-size', '-1', 'L', 'R'], /^layercopy: option --batch-size needs a value; one that begins with '-' is written --batch-size=-1$/m],
    [['provision', '--uid-map', '-1:0:1', 'L', 'R'], /^layercopy: option --uid-map needs a value; one that begins with '-' is written --uid-map=-1:0:1$/m],
    [['provision', 'onlyone'], /at least one LAYER and a ROOTFS/],
    [['provision', '/nonexistent-layer', '/tmp/layercopy-nonexistent-root'], /layer 1 \(\/nonexistent-layer\): does not exist/],
    [['destroy'], /exactly one ROOTFS/],
    [['destroy', '--repair', '/tmp/layercopy-nonexistent-root'], /--repair is not a destroy option/],
    [['destroy', '--max-downloads', '2', '/tmp/layercopy-nonexistent-root'], /--max-downloads is not a destroy option/],
    [['explode'], /unknown command 'explode'/],
    [['help', 'explode'], /unknown command 'explode'/],
    [[], /missing command/],
  ])('%j is a usage error: exit 2 naming the argument', async (args, message) => {
    const r = await run(args);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('destroy removes a rootfs; destroy / is refused', async () => {
    const dir = scratch();
    const root = buildLayer(path.join(dir, 'root'), { a: 'a' });
    expect((await run(['destroy', root])).exitCode).toBe(0);
    expect(exists(root)).toBe(false);
    const r = await run(['destroy', '/']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/refusing to remove \//);
  });

  it('bench times layercopy beside the seed and cp -a, prints JSON and cleans up', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { 'a/b': 'b', c: { symlink: 'a' }, d: 'd' });
    const work = fs.mkdtempSync(path.join(dir, 'scratch-'));
    const r = await run(['bench', '--runs', '1', '--concurrency', '1,2', '--batch-size', '64', '--scratch', work, '--json', l1]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rows.map((row: { method: string; strategy?: string; concurrency?: number }) => [row.method, row.strategy, row.concurrency].filter(Boolean).join(' '))).toEqual([
      'seed',
      'cp -a',
      'layercopy merged 1',
      'layercopy merged 2',
      'layercopy layered 1',
      'layercopy layered 2',
    ]);
    expect(report.entries).toBe(4);
    expect(report.rows[2]).toMatchObject({ runs: 1, batchSize: 64 });
    expect(report.rows[2].ratioToCp).toBeGreaterThan(0);
    expect(report.rows[2].ratioToSeed).toBeGreaterThan(0);
    expect(report.best.method).toBe('layercopy');
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it('bench on several layers compares with one cp -a of the final tree', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a', b: 'b' });
    const l2 = buildLayer(path.join(dir, 'l2'), { '.wh.a': '', c: 'c' });
    const work = fs.mkdtempSync(path.join(dir, 'scratch-'));
    const r = await run(['bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', '64', '--scratch', work, '--json', l1, l2]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rows.map((row: { method: string }) => row.method)).toEqual(['seed', 'cp -a', 'layercopy']);
    expect(report.rows[2]).toMatchObject({ strategy: 'merged' });
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it('bench on an image compares with umoci unpack (where on PATH), tar -x then layercopy, and the decompression floors', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a', 'd/b': 'b' });
    const l2 = buildLayer(path.join(dir, 'l2'), { '.wh.a': '', c: 'c' });
    const layout = ociImage(path.join(dir, 'img'), { layers: [tarDir(l1), tarDir(l2)], ref: 't' });
    const work = fs.mkdtempSync(path.join(dir, 'scratch-'));
    const r = await run(['bench', '--runs', '1', '--strategy', 'merged', '--concurrency', '1', '--batch-size', 'auto', '--scratch', work, '--json', `oci:${layout}:t`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rows.map((row: { method: string }) => row.method)).toEqual([
      'extract-then-copy',
      'floor',
      'verified-floor',
      ...(native.isalOpen() ? ['verified-floor-isal'] : []),
      ...(hasUmoci ? ['umoci'] : []),
      'layercopy',
    ]);
    const ours = report.rows.at(-1);
    expect(ours.ratioToExtract).toBeGreaterThan(0);
    expect(ours.ratioToFloor).toBeGreaterThan(0);
    expect(ours.ratioToVerifiedFloor).toBeGreaterThan(0);
    if (hasUmoci) expect(ours.ratioToUmoci).toBeGreaterThan(0);
    // d, d/b, c: a is whited out; as root the base goes straight into the
    // rootfs and counts what it wrote, a too (src/images/extract-all.ts).
    expect(report.entries).toBe(isRoot ? 4 : 3);
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it.runIf(process.getuid?.() === 0)('bench --uid-map adds an ID-mapped row beside each layercopy row [needs root: owners to map]', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const work = fs.mkdtempSync(path.join(dir, 'scratch-'));
    const r = await run([
      'bench',
      '--runs',
      '1',
      '--strategy',
      'merged',
      '--concurrency',
      '1',
      '--batch-size',
      '64',
      '--uid-map',
      '0:100000:65536',
      '--scratch',
      work,
      '--json',
      l1,
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout).rows.filter((row: { method: string }) => row.method === 'layercopy');
    expect(rows.map((row: { idMapArgs?: string[] }) => row.idMapArgs ?? null)).toEqual([null, ['--uid-map', '0:100000:65536']]);
    expect((await run(['bench', '--uid-map', 'x', l1])).exitCode).toBe(2);
  });

  it('bench usage errors exit 2', async () => {
    expect((await run(['bench'])).exitCode).toBe(2);
    expect((await run(['bench', '--runs', '0', '/tmp'])).stderr).toMatch(/--runs must be a positive integer/);
    expect((await run(['bench', '--concurrency', '1,x', '/tmp'])).stderr).toMatch(/--concurrency must be a positive integer \(got 'x'\)/);
  });

  it('--version and --help', async () => {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect((await run(['--version'])).stdout).toBe(pkg.version);
    const help = await run(['--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toMatch(/layercopy provision \[--strategy merged\|layered\] \[--uid-map C:H:N\]/);
    expect(help.stdout).toMatch(/--strategy S/);
    expect(help.stdout).toMatch(/-V, --version/);
    expect(help.stdout).toMatch(/layercopy bench .*\n.*\[--gid-map C:H:N\]/);
    // The certs.d directories read by default, in order (docs/cli.md, "Registries").
    expect(help.stdout).toMatch(/--cert-dir D .*\n.*certs\.d\/HOST\n.*of ~\/\.config\/containers, \/etc\/containers, \/etc\/docker\)/);
    expect((await run(['help'])).stdout).toBe(help.stdout);
    expect(help.stdout).toMatch(/layercopy pull .*\[--concurrency N\]\n.*\[--quiet\] IMAGE/);
  });

  it("help COMMAND and COMMAND --help: that command's usage, paragraph and options only", async () => {
    const verify = await run(['help', 'verify']);
    expect(verify.exitCode).toBe(0);
    expect((await run(['verify', '--help'])).stdout).toBe(verify.stdout);
    expect(verify.stdout).toMatch(/^Usage:\n {2}layercopy verify \[--store DIR\] \[--repair\] \[--json\] \[--quiet\]\n\nverify {5}hash every blob again/);
    expect(verify.stdout).toMatch(/\n {2}--repair {10}verify: remove what is damaged/);
    expect(verify.stdout).not.toMatch(/layercopy provision|--strategy|--uid-map/);
    const destroy = (await run(['help', 'destroy'])).stdout;
    expect(destroy.split('\nOptions:\n')[1].match(/^ {2}-[^ ]*/gm)).toEqual(['  --json', '  -q,']);
    const provision = (await run(['provision', '--help'])).stdout;
    expect(provision).toMatch(/--owners M/);
    expect(provision).not.toMatch(/--runs N|--repair|layercopy destroy/);
  });
});

describe('--strategy', () => {
  it('layered and merged give the same tree; a bad value is a usage error', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a', 'd/b': 'b' });
    const l2 = buildLayer(path.join(dir, 'l2'), { '.wh.a': '', 'd/c': 'c' });
    for (const strategy of ['merged', 'layered']) {
      const r = await run(['provision', '--quiet', '--json', '--strategy', strategy, l1, l2, path.join(dir, strategy)]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).strategy).toBe(strategy);
    }
    expect(diffSnapshots(snapshot(path.join(dir, 'layered')), snapshot(path.join(dir, 'merged')))).toEqual([]);
    const bad = await run(['provision', '--strategy', 'fast', l1, path.join(dir, 'x')]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--strategy must be one of merged, layered/);
  });
});

describe('the CLI keeps its promises', () => {
  it('--json prints exactly one JSON object on stdout for a usage error too', async () => {
    const r = await run(['provision', '--json', '--concurrency', '0', '/a', '/b']);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: 'ERR_USAGE', message: expect.stringMatching(/--concurrency must be a positive integer/) } });
    const unknown = await run(['provision', '--json', '--frobnicate', '/a', '/b']);
    expect(unknown.exitCode).toBe(2);
    expect(JSON.parse(unknown.stdout).error.code).toBe('ERR_USAGE');
  });

  it('an unknown option is one line and a pointer to --help', async () => {
    const r = await run(['provision', '--frobnicate', '/a', '/b']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^layercopy: unknown option '--frobnicate'/), "Try 'layercopy --help'."]);
  });

  it('--quiet prints nothing on success', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const r = await run(['provision', '--quiet', l1, path.join(dir, 'root')]);
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, '', '']);
    const d = await run(['destroy', '--quiet', path.join(dir, 'root')]);
    expect([d.exitCode, d.stdout, d.stderr]).toEqual([0, '', '']);
  });

  it('destroy . in the directory to remove is refused: exit 2, nothing removed', async () => {
    const dir = scratch();
    const c = buildLayer(path.join(dir, 'c'), { a: 'a' });
    const r = await run(['destroy', '.'], { cwd: c });
    expect([r.exitCode, r.stdout]).toEqual([2, '']);
    expect(r.stderr).toMatch(/destroy \.: refusing to remove a path that ends in '\.'/);
    expect(fs.readdirSync(c)).toEqual(['a']);
  });

  it('destroy of a directory above the working directory, reached through a symlink, is refused (device and inode, not strings)', async () => {
    const dir = scratch();
    buildLayer(path.join(dir, 'a'), { 'b/c/x': 'x' });
    fs.symlinkSync('a', path.join(dir, 'l'));
    const r = await run(['destroy', path.join(dir, 'l', 'b')], { cwd: path.join(dir, 'a', 'b', 'c') });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/a directory above the current working directory/);
    expect(fs.readFileSync(path.join(dir, 'a', 'b', 'c', 'x'), 'utf8')).toBe('x');
  });

  it('destroy of the working directory by its absolute path is refused', async () => {
    const dir = scratch();
    const c = buildLayer(path.join(dir, 'c'), { a: 'a' });
    const r = await run(['destroy', c], { cwd: c });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/refusing to remove the current working directory/);
    expect(fs.readdirSync(c)).toEqual(['a']);
  });

  it('destroy works from a working directory that was removed', async () => {
    const dir = scratch();
    const root = buildLayer(path.join(dir, 'root'), { a: 'a' });
    fs.mkdirSync(path.join(dir, 'gone'));
    const r = await execa('sh', ['-c', 'cd "$1" && rmdir "$1" && node "$2" destroy "$3"', 'sh', path.join(dir, 'gone'), cli, root], { reject: false });
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(exists(root)).toBe(false);
  });

  it('provision into . (an empty working directory) is refused: exit 2, nothing replaced', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    fs.mkdirSync(path.join(dir, 'here'));
    const before = fs.statSync(path.join(dir, 'here')).ino;
    const r = await run(['provision', l1, '.'], { cwd: path.join(dir, 'here') });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/name the rootfs directory itself, not \. or \.\. or the working directory/);
    expect(fs.statSync(path.join(dir, 'here')).ino).toBe(before);
  });

  it('destroy of a missing path says so, exit 0', async () => {
    const dir = scratch();
    const r = await run(['destroy', path.join(dir, 'nothing')]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^nothing to destroy: .*nothing does not exist/);
  });

  it('a file that is no tar layer is named as such, whatever its name', async () => {
    const dir = scratch();
    fs.writeFileSync(path.join(dir, 'layer.tar.gz'), 'not gzip at all');
    const r = await run(['provision', path.join(dir, 'layer.tar.gz'), path.join(dir, 'root')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/layer 1 \(.*layer\.tar\.gz\): is neither a directory nor a tar layer \(tar, gzip or zstd\)/);
  });

  it('says "1 entry replaced"', async () => {
    const dir = scratch();
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    const l2 = buildLayer(path.join(dir, 'l2'), { a: { symlink: 'x' } });
    const r = await run(['provision', l1, l2, path.join(dir, 'root')]);
    expect(r.stdout).toMatch(/, 1 entry replaced/);
  });

  it.runIf(nobodyCanRun)('a rootfs that cannot be created is named as typed, like cp [needs root, and a checkout user nobody can read: not under a 0700 directory]', async () => {
    const dir = scratch();
    fs.mkdirSync(path.join(dir, 'ro'), { mode: 0o555 });
    fs.chmodSync(dir, 0o755);
    const l1 = buildLayer(path.join(dir, 'l1'), { a: 'a' });
    fs.chmodSync(l1, 0o755);
    const r = await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'node', cli, 'provision', l1, path.join(dir, 'ro', 'nb')], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/cannot create rootfs '.*\/ro\/nb': Permission denied \(EACCES\)/);
    expect(r.stderr).not.toMatch(/\.nb\.layercopy-/);
  });
});
