#!/usr/bin/env bash
# Installs the real BitTorrent peers and remote tools riffle's tests run
# against: Debian's packages (libtorrent, opentracker, aria2, Transmission
# with its remote and web interface, tmux, Chromium and its WebDriver),
# then a Python virtual environment with the PyPI packages the seedbox
# tests drive it with (transmission-rpc, selenium). Safe to run again: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# transmission-remote ships in transmission-cli, the web interface in
# transmission-common (pulled in by transmission-daemon); tmux drives the
# TUI tests; chromium + chromium-driver load the web interface.
packages=(python3-libtorrent opentracker aria2 transmission-cli transmission-daemon
  transmission-common tmux chromium chromium-driver python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The PyPI packages, pinned, in target/test-venv (tests look there).
venv=target/test-venv
pips=(transmission-rpc==7.0.12 selenium==4.50.0)
if ! "$venv/bin/python" -c "import transmission_rpc, selenium" 2>/dev/null; then
  echo "creating $venv with ${pips[*]}" >&2
  rm -rf "$venv"
  mkdir -p target
  python3 -m venv "$venv" 2>/dev/null || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${pips[@]}"
fi
