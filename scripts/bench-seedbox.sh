#!/usr/bin/env bash
# The seedbox at scale (issue 18): many small complete torrents in one
# daemon, riffle's and transmission-daemon's measured the same way in the
# same run: RSS, idle CPU, threads, open files, start-up from resume data,
# a torrent-get of every torrent, many peer connections at once. Prints a
# markdown table for docs/performance.md.
#
# Usage: scripts/bench-seedbox.sh [TORRENTS=1000] [CONNECTIONS=500]
# Environment: SEEDBOX_DIR (scratch, default /tmp/riffle-seedbox; kept, so
# a second run reuses the torrents), SEEDBOX_IDLE (idle seconds, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v transmission-daemon >/dev/null || scripts/install-test-deps.sh
cargo build --release -q -p riffle-cli
ulimit -n "$(ulimit -Hn)"
# Loopback only: the daemon's DHT joins through no public router.
export RIFFLE_DHT_BOOTSTRAP=
exec python3 scripts/bench/seedbox.py target/release/riffle "${1:-1000}" "${2:-500}"
