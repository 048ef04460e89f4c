#!/usr/bin/env bash
# Installs the real BitTorrent peers riffle's tests run against, from
# Debian's packages. Safe to run again: it installs only what is missing.
set -euo pipefail

# transmission-remote ships in transmission-cli; tmux drives the TUI test.
packages=(python3-libtorrent opentracker aria2 transmission-cli transmission-daemon tmux)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing test dependencies: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
