#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on a fresh
# Debian machine: peer tools the tests compare against (tshark, tcpdump,
# nfdump), Chromium for the HTML report test, and the notebooks' Python
# packages. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tshark   >/dev/null || need+=(tshark)
command -v tcpdump  >/dev/null || need+=(tcpdump)
command -v nfpcapd  >/dev/null || need+=(nfdump)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! python3 -c 'import polars, pyarrow, nbclient, nbformat, ipykernel' 2>/dev/null; then
  echo "setup: installing Python packages for the notebooks"
  python3 -m pip install -q --disable-pip-version-check -r notebooks/requirements.txt
fi
