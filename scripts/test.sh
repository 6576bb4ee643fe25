#!/usr/bin/env bash
# The README's test command, and what CI runs: install what the tests need on a fresh machine,
# then run `npm test`. The tests use real binaries (Debian's prometheus, awscli for the EKS token
# reference, faketime, chromium) and fail loudly when one is missing, so they are installed here.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v prometheus >/dev/null || need+=(prometheus)
[ -x /usr/bin/aws ] || need+=(awscli)
command -v faketime >/dev/null || need+=(faketime)
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: the tests need Debian's ${need[*]}; run this as root, or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "test: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm may run on an older Node and warn about packages that need 22+; they run on the Node 24 the
# `node` devDependency installs.
npm ci --no-audit --no-fund --loglevel=error
npm test
