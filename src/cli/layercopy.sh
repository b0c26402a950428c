#!/bin/sh
# The layercopy command: Node, started on the CLI beside this file.
# NODE_EXTRA_CA_CERTS is handed over as LAYERCOPY_EXTRA_CA_CERTS: Node 20
# parses that file as it starts (40-45 ms a run with the system bundle),
# while layercopy needs it only to reach a registry over TLS, and reads it
# then (src/core/extra-ca.ts).
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  LAYERCOPY_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export LAYERCOPY_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
# npm links the command to this file (node_modules/.bin, a global prefix):
# the CLI lies beside where the link leads.
self=$(readlink -f -- "$0") || exit 1
exec node "${self%/*}/cli.js" "$@"
