#!/bin/sh
# edge-metaserver launcher (bin/edge-metaserver of the release): runs the app with the Node.js
# runtime bundled next to it, never a node found on PATH, so the machine's own Node.js version
# (or the lack of one) never matters. Layout: <prefix>/bin/edge-metaserver and
# <prefix>/lib/edge-metaserver/{node/bin/node,dist/src/cli.js,node_modules}.
self=$(readlink -f -- "$0") || exit 1
lib=${self%/*}/../lib/edge-metaserver
exec "$lib/node/bin/node" "$lib/dist/src/cli.js" "$@"
