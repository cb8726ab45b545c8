#!/bin/sh
# Runs the given command with Node.js 24 first on PATH. Where the machine's Node is
# older (machines here ship Node 20), Node 24 is provisioned once from the npm registry's
# `node` package into a cache folder. Used by .ci/run and by the npm scripts the README
# starts with, so `npm ci && npm test` works on such a machine too.
set -eu
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -lt 24 ]; then
  cache="${LGS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/luma-guest-sync/node24}"
  if [ ! -x "$cache/node_modules/.bin/node" ]; then
    echo "luma-guest-sync: Node $(node --version 2>/dev/null || echo '(none)') is older than 24; provisioning Node 24 into $cache" >&2
    mkdir -p "$cache"
    npm install --prefix "$cache" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
  fi
  PATH="$cache/node_modules/.bin:$PATH"
  export PATH
fi
exec "$@"
