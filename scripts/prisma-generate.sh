#!/usr/bin/env bash
# `prisma generate` needs no schema engine, but Prisma 7 still looks for one and tries to
# download it from Prisma's host when it is missing. Point it at a stub so that generate
# works offline (CI, air-gapped builds). Migrations are applied by src/store/migrator.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PRISMA_SCHEMA_ENGINE_BINARY:-}" ]; then
  stub="$(mktemp -d)/schema-engine-stub"
  printf '#!/bin/sh\necho "schema engine stub: prisma migrate is not available offline" >&2\nexit 1\n' >"$stub"
  chmod +x "$stub"
  export PRISMA_SCHEMA_ENGINE_BINARY="$stub"
fi
export PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1
exec npx --no-install prisma generate "$@"
