#!/usr/bin/env bash
# Idle cost (issue 24): N small complete torrents seeded by one daemon,
# their tracker unreachable, no peers; riffle's daemon and
# transmission-daemon measured the same way in the same run (RSS, idle
# CPU, threads, open descriptors, start-up from resume data), under
# Linux's default descriptor limit of 1,024 (set here whatever the shell
# had). Prints a
# markdown table per N, with issue 24's targets, for docs/performance.md.
#
# Usage: scripts/bench-idle.sh [N ...]   (default: 1000 10000)
# Environment: SEEDBOX_SETTLE (seconds after start-up before measuring,
# default 30), SEEDBOX_IDLE (seconds measured, default 60). The torrents
# are made once per N under /tmp/riffle-idle-N and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v transmission-daemon >/dev/null || scripts/install-test-deps.sh
cargo build --release -q -p riffle-cli
# Loopback only: the daemon's DHT joins through no public router.
export RIFFLE_DHT_BOOTSTRAP=
export SEEDBOX_TARGETS=idle
export SEEDBOX_SETTLE="${SEEDBOX_SETTLE:-30}"
export SEEDBOX_IDLE="${SEEDBOX_IDLE:-60}"
ulimit -Sn 1024
echo "descriptor limit: $(ulimit -Sn)"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
for n in "${sizes[@]}"; do
  SEEDBOX_DIR="/tmp/riffle-idle-$n" python3 scripts/bench/seedbox.py target/release/riffle "$n" 0
  echo
done
