#!/bin/sh
':' /*
# The layercopy command: one file that is a shell script and a CommonJS
# module. sh runs it first: it makes the environment Node starts in, then
# runs this same file in Node, which resolves the link npm made to it
# (node_modules/.bin, a global prefix) and starts the CLI beside it. The
# CLI undoes both changes for the processes it starts
# (src/core/command-env.ts). Nothing here may close the comment that hides
# these lines from JavaScript. No readlink -f finds the file behind the
# link: that is a fork and an exec, 5 ms a run.
#
# NODE_EXTRA_CA_CERTS is handed over as LAYERCOPY_EXTRA_CA_CERTS: Node 20
# parses that file as it starts (40-45 ms a run with the system bundle),
# while layercopy needs it only to reach a registry over TLS, and reads it
# then.
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  LAYERCOPY_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export LAYERCOPY_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
# GLIBC_TUNABLES gets one setting of malloc's, unless the user's value
# names it:
# - For a pull (an argument names docker://), glibc.malloc.hugetlb=1:
#   malloc asks for transparent huge pages where the kernel gives them on
#   request (THP "madvise", Debian's default): the buffers a pull receives
#   into are fresh memory, faulted in 2 MiB at a time instead of 4 KiB. A
#   fault cost 10 us on the machines measured; a pull of 133 MB made 19-25k
#   of them, 10k with this (0.89x the time; 0.93x for 295 MB in 4 layers).
# - Otherwise glibc.malloc.mmap_threshold=2097152: by default the threshold
#   rises to the size of each large block freed (up to 32 MiB), and with
#   it the size a thread's arena keeps unreturned at its top; fixed, blocks
#   of 2 MiB and more are mapped and given back when freed, and arenas give
#   back what they free. A tar layer of 1M files and 1M hardlinks to them
#   peaked at 311-323 MB of RSS, 276-286 MB with it; the images measured took
#   the same time (a gzip tarball given as a file 0.92x), a pull 1.01-1.02x.
#   At 131072 (glibc's default, fixed) the zlib path's 1 MiB output buffers
#   were each mapped afresh: 1.73x on a gzip tarball.
case " $* " in
  *docker://*) tunable=glibc.malloc.hugetlb ; value=1 ;;
  *) tunable=glibc.malloc.mmap_threshold ; value=2097152 ;;
esac
case ":${GLIBC_TUNABLES:-}:" in
  *:$tunable=*) ;;
  *)
    LAYERCOPY_GLIBC_TUNABLES=${GLIBC_TUNABLES:-}
    GLIBC_TUNABLES=${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}$tunable=$value
    export LAYERCOPY_GLIBC_TUNABLES GLIBC_TUNABLES
    ;;
esac
exec node "$0" "$@"
*/

// The CLI beside this file; process.argv[1] is this file, so the CLI is started here, not by itself.
import('./cli.js').then((cli) => cli.start());
