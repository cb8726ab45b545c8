#!/usr/bin/env bash
# The container smoke test in CI (`npm run test:container`): builds the runtime image and
# runs it. It needs a container engine and the node:24-bookworm-slim base image.
#   - An engine that answers (podman or docker): used as it is; it pulls the base image.
#   - None, but this is CI on a machine of this project's kind, where Docker Hub cannot be
#     reached and the workplace's ../shared/tools/container-base.sh sits beside the clone:
#     that script installs podman from Debian and builds a stand-in base image. It is
#     provisioning only; the project's files and tests never read ../shared.
#   - Neither: the smoke test prints that it was skipped, and CI goes on.
set -euo pipefail
cd "$(dirname "$0")/.."

engine_answers() {
  for engine in podman docker; do
    command -v "$engine" >/dev/null && "$engine" info >/dev/null 2>&1 && return 0
  done
  return 1
}

helper=../shared/tools/container-base.sh
if ! engine_answers || { command -v podman >/dev/null && ! podman image exists docker.io/library/node:24-bookworm-slim; }; then
  if [ -n "${CI:-}" ] && [ -f "$helper" ] && [ "$(id -u)" = 0 ]; then
    echo "container: provisioning podman and a stand-in base image with $helper"
    bash "$helper"
  fi
fi
npm run test:container
