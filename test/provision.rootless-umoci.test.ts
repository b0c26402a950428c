// As nobody, a small real multi-layer image built with umoci (device nodes,
// setuid-root and setgid binaries, group-owned files, a file capability, a
// FIFO, a whiteout, a user's home) provisions, from oci: and from its layer
// tarballs, to what `umoci unpack --rootless` writes as nobody: modes,
// owners, xattrs (user.rootlesscontainers included), devices as empty
// files, times. And that tree, as a directory layer, gives itself again.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRegistry, pushImage, type Registry, skopeoPolicy, startRegistry } from './fixtures/registry.js';
import { diffSnapshots, nobodyCanRun, snapshot } from './helpers.js';
import { hasUmoci } from './images/fixtures.js';
import { asNobody, openScratch } from './rootless-fixtures.js';

const hasSetcap = fs.existsSync('/usr/sbin/setcap');

/** The image: two layers by umoci repack (the second with a whiteout, a new home, a changed file). */
const BUILD = `set -e
IMG=$1/img; B=$1/bundle; R=$B/rootfs
umoci init --layout $IMG
umoci new --image $IMG:t
umoci unpack --image $IMG:t $B
mkdir -p $R/usr/bin $R/etc $R/dev $R/var/log $R/home
cp -a /usr/bin/passwd /usr/bin/chage /usr/bin/newgrp $R/usr/bin/
cp /bin/true $R/usr/bin/ping && /usr/sbin/setcap cap_net_raw+ep $R/usr/bin/ping
printf 'root:*:19000:0:99999:7:::\\n' > $R/etc/shadow && chown 0:42 $R/etc/shadow && chmod 640 $R/etc/shadow
mknod -m 666 $R/dev/null c 1 3 && mknod -m 666 $R/dev/tty c 5 0 && chown 0:5 $R/dev/tty
mknod -m 660 $R/dev/sda b 8 0 && chown 0:6 $R/dev/sda && mkfifo -m 600 $R/dev/initctl
mkdir -m 2775 $R/var/mail && chown 0:8 $R/var/mail
touch $R/var/log/wtmp && chown 0:43 $R/var/log/wtmp && chmod 664 $R/var/log/wtmp
ln -s usr/bin $R/bin
umoci repack --refresh-bundle --image $IMG:t $B
mkdir -p $R/home/user && echo hi > $R/home/user/.profile && chown -R 1000:1000 $R/home/user && chmod 700 $R/home/user
rm $R/usr/bin/newgrp && echo 'user:*:19000:0:99999:7:::' >> $R/etc/shadow
umoci repack --image $IMG:t $B
chmod -R a+rX $IMG`;

/** The manifest's layer blobs, lowest first. */
function layerBlobs(layout: string): string[] {
  const blob = (digest: string) => path.join(layout, 'blobs/sha256', digest.slice(7));
  const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0].digest), 'utf8'));
  return manifest.layers.map((l: { digest: string }) => blob(l.digest));
}

/** The image built in a scratch directory nobody may write into, and what umoci unpack --rootless makes of it as nobody. */
async function imageAndUmoci(): Promise<{ dir: string; umoci: ReturnType<typeof snapshot> }> {
  const dir = openScratch();
  execFileSync('bash', ['-c', BUILD, 'build', dir], { stdio: 'ignore' });
  const r = await execa('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'umoci', 'unpack', '--rootless', '--image', `${dir}/img:t`, `${dir}/umoci`], {
    reject: false,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  return { dir, umoci: snapshot(path.join(dir, 'umoci/rootfs'), { atime: false }) };
}

describe.runIf(nobodyCanRun && hasUmoci && hasSetcap)('as nobody, equal to umoci unpack --rootless [needs root, umoci, setcap, a checkout nobody can read]', () => {
  let dir: string;
  let umoci: ReturnType<typeof snapshot>;
  beforeAll(async () => {
    ({ dir, umoci } = await imageAndUmoci());
  });

  it('the image has what the comparison is about', () => {
    expect(layerBlobs(path.join(dir, 'img'))).toHaveLength(2);
    const x = (rel: string) => umoci.get(rel)!;
    expect([x('dev/null').type, x('usr/bin/passwd').mode, x('var/mail').mode]).toEqual(['file', 0o4755, 0o2775]);
    expect(x('etc/shadow').xattrs).toBe('user.rootlesscontainers=08ffffffff0f102a');
    expect(umoci.has('usr/bin/newgrp')).toBe(false);
  });

  it.each([
    ['oci:', 'merged'],
    ['tarballs', 'merged'],
    ['tarballs', 'layered'],
  ])('from %s (%s): the same tree', async (from, strategy) => {
    const out = path.join(dir, `${from.replace(':', '')}-${strategy}`);
    const layers = from === 'oci:' ? [`oci:${dir}/img:t`] : layerBlobs(path.join(dir, 'img'));
    const r = await asNobody(['provision', '--json', '--strategy', strategy, ...layers, out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(diffSnapshots(umoci, snapshot(out, { atime: false }))).toEqual([]);
    expect(r.json.rootless?.devicesEmptied.count).toBe(3);
    expect(r.json.rootless?.xattrsSkipped.paths).toEqual(['/usr/bin/ping']);
  });

  it("umoci's tree as a directory layer: the same tree again", async () => {
    const r = await asNobody(['provision', '--json', path.join(dir, 'umoci/rootfs'), path.join(dir, 'again')]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(diffSnapshots(umoci, snapshot(path.join(dir, 'again'), { atime: false }))).toEqual([]);
  });
});

describe.runIf(nobodyCanRun && hasUmoci && hasSetcap && hasRegistry)(
  'as nobody, the other input kinds: the same tree as umoci [needs root, umoci, setcap, skopeo, docker-registry, a checkout nobody can read]',
  () => {
    let dir: string;
    let umoci: ReturnType<typeof snapshot>;
    let registry: Registry;
    beforeAll(async () => {
      ({ dir, umoci } = await imageAndUmoci());
      for (const dest of [`docker-archive:${dir}/image.tar:rl/img:t`, `oci-archive:${dir}/image-oci.tar:t`]) {
        execFileSync('skopeo', ['--policy', skopeoPolicy(), 'copy', '--quiet', `oci:${dir}/img:t`, dest]);
      }
      fs.chmodSync(`${dir}/image.tar`, 0o644);
      fs.chmodSync(`${dir}/image-oci.tar`, 0o644);
      registry = await startRegistry();
      await pushImage(`oci:${dir}/img:t`, registry, 'rl/img:t');
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it.each(['docker-archive', 'oci-archive', 'docker://'])('from %s', async (kind) => {
      const layer = { 'docker-archive': `docker-archive:${dir}/image.tar`, 'oci-archive': `oci-archive:${dir}/image-oci.tar:t`, 'docker://': `docker://${registry.host}/rl/img:t` }[
        kind
      ]!;
      // No registries.conf, auth file or certs.d of this machine's: a HOME of the test's own.
      const home = path.join(dir, `home-${kind.replace(/\W/g, '')}`);
      fs.mkdirSync(home, { mode: 0o755 });
      fs.writeFileSync(path.join(home, 'registries.conf'), '', { mode: 0o644 });
      fs.writeFileSync(path.join(home, 'auth.json'), '{}', { mode: 0o644 });
      const env = ['env', `HOME=${home}`, `CONTAINERS_REGISTRIES_CONF=${home}/registries.conf`, `REGISTRY_AUTH_FILE=${home}/auth.json`, `XDG_RUNTIME_DIR=${home}`];
      const out = path.join(dir, `from-${kind.replace(/\W/g, '')}`);
      const r = await asNobody(['provision', '--json', '--tls-verify=false', layer, out], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(diffSnapshots(umoci, snapshot(out, { atime: false }))).toEqual([]);
    });
  },
);
