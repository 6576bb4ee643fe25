#!/usr/bin/env bash
# `npm test`'s pretest step: the tests use real binaries (Debian's prometheus, awscli for the EKS
# token reference, faketime, chromium) and fail loudly when one is missing, so a fresh machine gets
# them here. Nothing happens when they are already installed.
set -euo pipefail

need=()
command -v prometheus >/dev/null || need+=(prometheus)
[ -x /usr/bin/aws ] || need+=(awscli)
command -v faketime >/dev/null || need+=(faketime)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "npm test needs Debian's ${need[*]}: run it as root once, or: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "pretest: installing ${need[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
