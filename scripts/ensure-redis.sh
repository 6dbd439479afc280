#!/usr/bin/env bash
# The integration tests start their own redis-server on a free port. Install it when missing
# (Debian package; needs root), so `npm test` works on a fresh machine.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "redis-server is not installed; install it (apt-get install -y redis-server) and re-run" >&2
  exit 1
fi
echo "installing redis-server (Debian package) for the integration tests..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq redis-server >/dev/null
# The package starts a system instance; the tests do not use it.
(service redis-server stop || true) >/dev/null 2>&1
