// The text of `layercopy --help`.
import { STORE_HELP, STORE_OPTIONS, STORE_USAGE } from './store.js';

export const USAGE = `Usage:
  layercopy provision [--strategy merged|layered] [--uid-map C:H:N]... [--gid-map C:H:N]...
                     [--owners keep|xattr|drop] [--devices error|empty|skip] [--strict]
                     [--platform OS/ARCH[/VARIANT]] [--concurrency N] [--batch-size N|auto]
                     [--creds USER:PASS] [--authfile F] [--cert-dir D] [--tls-verify=false]
                     [--max-downloads N] [--store DIR [--pull missing|always|never]]
                     [--json] [--quiet] LAYER... ROOTFS
  layercopy destroy [--json] [--quiet] ROOTFS
  layercopy bench [--runs N] [--strategy LIST] [--concurrency LIST] [--batch-size LIST]
                  [--uid-map C:H:N]... [--gid-map C:H:N]... [--owners M] [--devices M] [--strict]
                  [--platform P] [--scratch DIR] [--json] LAYER...
  layercopy bench [options above] [--creds U:P] [--tls-verify=false] ... docker://IMAGE
  layercopy bench --store DIR [--runs N] [--owners M] [--devices M] [registry flags] [--json] IMAGE
${STORE_USAGE}
  layercopy -h | --help | help [COMMAND]
  layercopy -V | --version

provision  copy LAYERs (lowest first) into ROOTFS, applying whiteouts; ROOTFS
           must not exist or be an empty directory. It is built beside
           ROOTFS and renamed into place.
           A LAYER is an extracted layer directory, a layer tarball (tar,
           tar.gz or tar.zst: told by its content), oci:PATH[:REF] (an OCI
           image layout; also oci:PATH@sha256:DIGEST), oci-archive:FILE[:REF]
           (a tar of one), docker-archive:FILE[:NAME:TAG] (docker save) or
           docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST] (a registry's image,
           extracted as it downloads): its layers.
destroy    remove ROOTFS without following symlinks.
bench      time layercopy against cp -aT per layer and cp -a of the final tree;
           on images, against umoci unpack, tar -x and decompression floors;
           on docker://IMAGE, against skopeo copy then layercopy provision
           oci: (or umoci unpack), the download floor, and itself on the
           image copied beforehand to an OCI layout. With --store DIR:
           provision through a warm store against its layers as directories,
           and through an empty store against no store (stores made in DIR).
${STORE_HELP}

Options:
  --concurrency N   worker threads (default: available CPUs)
  --batch-size N    entries per worker task (default: auto: 256, up to 1,024
                    on big images while the workers are behind)
  --strategy S      merged (default): copy each surviving entry once, from the
                    highest layer that has it; layered: copy every layer in
                    full over the lower ones (the cp -aT per layer method)
  --platform P      for an image index of several platforms: os/arch[/variant]
                    (default: this host's, e.g. linux/amd64)
  --creds U:P       docker://: the registry's user and password (default: the
                    auth files: $REGISTRY_AUTH_FILE, containers' auth.json,
                    ~/.docker/config.json, credential helpers)
  --authfile F      docker://: read credentials from F only
  --cert-dir D      docker://: CAs (*.crt) and a client certificate (*.cert,
                    *.key) for the registry (default: the first certs.d/HOST
                    of ~/.config/containers, /etc/containers, /etc/docker)
  --tls-verify=false  docker://: allow plain HTTP and unverified TLS
  --max-downloads N docker://: layers downloaded at once (default: 6)
${STORE_OPTIONS}
  --uid-map C:H:N   shift owners for a user namespace: container IDs C..C+N-1
  --gid-map C:H:N   become host IDs H..H+N-1 (as in /proc/PID/uid_map); repeat
                    for several ranges; also maps file capabilities and ACLs
  --owners M        keep: owners as the layers give them (default as root with
                    IDs 0-65535 mapped); xattr: files owned by you, other owners
                    recorded in user.rootlesscontainers as umoci --rootless
                    (default otherwise); drop: owners and setuid/setgid dropped
  --devices M       device nodes: error (default as real root), empty (an empty
                    file: the default otherwise) or skip
  --strict          fail at the first owner, device, xattr or setuid bit the
                    modes would change
  --json            print one JSON object on stdout (with --quiet too: --json
                    wins, the object is still printed)
  -q, --quiet       print nothing on success (no progress line, no summary);
                    errors (verify: the damage) still go to stderr; images -q
                    prints the digests alone
  -h, --help        this text
  -V, --version     the version
  --runs N          bench: runs per configuration (default: 5); bench takes
                    lists where provision takes one value: --strategy
                    merged,layered, --concurrency 1,2,4 and --batch-size
                    auto,64,1024 (defaults: both strategies; 1, 2, 4 and
                    the CPUs; auto, 64 and 1024), each combination timed
  --scratch DIR     bench: where the temporary rootfs trees go (default: $TMPDIR);
                    put it on the filesystem you provision to

Exit status: 0 success, 1 failure, 2 usage error, 129 SIGHUP, 130 SIGINT, 143 SIGTERM.
Reference: docs/cli.md and docs/errors.md in the package.`;

/**
 * One command's part of USAGE: its usage lines, its paragraph, and the
 * options its usage names (`layercopy help provision`, `provision --help`),
 * cut from the one text so that the two never differ.
 */
export function commandUsage(command: string): string {
  const [head, rest] = USAGE.split('\n\nOptions:\n');
  const [synopsis, ...paragraphs] = head.split('\n\n');
  const lines = (text: string) => text.split('\n');
  // A block: a line that starts it and the lines indented past its first column that follow.
  const blocks = (text: string, indent: number) => {
    const out: string[][] = [];
    for (const line of lines(text)) {
      if (out.length > 0 && line.startsWith(' '.repeat(indent))) out[out.length - 1].push(line);
      else out.push([line]);
    }
    return out;
  };
  const usage = blocks(synopsis, 5)
    .filter((b) => b[0].startsWith(`  layercopy ${command} `) || b[0] === `  layercopy ${command}`)
    .flat();
  const about = blocks(paragraphs.join('\n'), 11).filter((b) => b[0].startsWith(`${command} `) || b[0] === command);
  const named = new Set(usage.join(' ').match(/--[a-z-]+/g));
  // "[registry flags]" stands for provision's docker:// options.
  if (usage.join(' ').includes('registry flags')) for (const o of ['--creds', '--authfile', '--cert-dir', '--tls-verify', '--max-downloads']) named.add(o);
  const [options, ...footer] = rest.split('\n\n');
  const taken = blocks(options, 20).filter((b) => [...named].some((o) => new RegExp(`^  (-[a-zA-Z], )?${o}\\b`).test(b[0])));
  return ['Usage:', ...usage, '', ...about.flat(), ...(taken.length > 0 ? ['', 'Options:', ...taken.flat()] : []), '', ...footer].join('\n');
}
