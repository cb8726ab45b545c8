# luma-guest-sync: one image, two targets.
#   runtime (the default, last stage): production dependencies only; the worker and db:migrate.
#   dev:     every dependency; the local Luma simulator and other tooling in compose.yaml.
# Node 24 runs src/*.ts itself by stripping the types (tsconfig erasableSyntaxOnly keeps the
# source strippable): no transpiler in the image, no build output to drift from src/.
# Needs BuildKit for `RUN --mount=type=cache` (the npm cache): the default builder of
# Docker 23 and later, docker buildx and podman/buildah; on older Docker set DOCKER_BUILDKIT=1
# (the legacy builder rejects --mount). No `# syntax=` line: it would make BuildKit fetch a
# frontend image from Docker Hub.

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# Every dependency, for the dev target and the type check. npm ci runs the postinstall
# script, which fixes the database driver's write scheduler (docs/driver-workarounds.md).
FROM base AS deps-dev
COPY package.json package-lock.json ./
COPY deploy/postgres-driver-fix.mjs ./deploy/
RUN --mount=type=cache,target=/root/.npm npm ci

# Type stripping does not type-check: this stage does, and the runtime stage copies its
# marker file, so a type error fails the image build (as it fails CI's `npm run typecheck`).
FROM deps-dev AS typecheck
COPY tsconfig.json drizzle.config.ts ./
COPY migrations ./migrations
COPY src ./src
COPY test ./test
RUN npx tsc --noEmit && touch /typechecked

# Production dependencies only. No dependency's install scripts run: none needs one. Our
# own fix of the database driver's write scheduler is run by name instead; it fails the
# build when the driver is not the version it knows (docs/driver-workarounds.md).
FROM base AS deps-prod
COPY package.json package-lock.json ./
COPY deploy/postgres-driver-fix.mjs ./deploy/
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts \
    && node deploy/postgres-driver-fix.mjs

# The application source less src/local/ (the simulated Luma, the embedded local stack,
# demo data): development tools the runtime image does not ship. The worker never imports
# them (test/deploy/dockerfile.test.ts walks its imports to prove it).
FROM base AS app-src
COPY src ./src
RUN rm -rf src/local

FROM base AS dev
COPY --from=deps-dev /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY migrations ./migrations
COPY src ./src
COPY test ./test
# Numeric, as Kubernetes' runAsNonRoot needs: the base image's `node` user and group.
USER 1000:1000
ENTRYPOINT ["node"]
CMD ["src/main.ts", "daemon"]

# Node's compile cache for the runtime stage (see there), filled by the user that runs the
# worker and with the runtime stage's ENV: Node names the cache's directory by uid (a cache
# root fills is never read by uid 1000), and V8 rejects code cached under other flags.
FROM base AS compile-cache
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=2 \
    NODE_COMPILE_CACHE=/app/.compile-cache
COPY --from=deps-prod /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY --from=app-src /app/src ./src
RUN install -d -o 1000 -g 1000 /app/.compile-cache
USER 1000:1000
RUN node src/warm-compile-cache.ts

FROM base AS runtime
# A young generation of at most 2 × 2 MB: V8 grows it to 2 × 16 MB while the modules load and
# keeps that for minutes, ~13 MB of the idle worker's RSS. What it costs a sync is measured
# beside the memory (docs/memory.md; `npm run bench -- --only 13`).
# NODE_COMPILE_CACHE: each module's stripped JavaScript and V8 code, from the compile-cache
# stage. With it the worker never loads Node's type stripper (~18 MB resident for the
# process's life) and starts on less CPU. Read-only here, which Node accepts; a file changed
# since the build is stripped as usual.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=2 \
    NODE_COMPILE_CACHE=/app/.compile-cache
COPY --from=typecheck /typechecked /app/.typechecked
# Files stay owned by root and read-only to the user that runs them.
COPY --from=deps-prod /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY migrations ./migrations
COPY --from=app-src /app/src ./src
COPY --from=compile-cache /app/.compile-cache ./.compile-cache
# Numeric uid:gid (the base image's `node` user), so Kubernetes' runAsNonRoot can verify
# it without a runAsUser of its own ("image has non-numeric user" otherwise).
USER 1000:1000
EXPOSE 8080
# Liveness only (the event loop answers); readiness lives at /readyz for orchestrators.
# Bash's /dev/tcp makes the request (the slim image has no curl or wget): a probe every 15 s
# costs 1-7 ms of CPU and under 14 MB, where a second Node process cost 70-80 ms and ~61 MB
# (docs/memory.md).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${HTTP_PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r -t 4 _ code _ <&3 && [ \"$code\" = 200 ] || exit 1"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "src/main.ts"]
CMD ["daemon"]
