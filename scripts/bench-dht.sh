#!/usr/bin/env bash
# The DHT (issue 20): time from a bare magnet link to the first verified
# piece, riffle against libtorrent in the same run on the same loopback DHT
# of libtorrent nodes; then the memory of one DHT node holding a full
# routing table and 10,000 stored peers. Prints markdown for
# docs/performance.md.
#
# Usage: scripts/bench-dht.sh [RUNS=5] [NODES=8] [MIB=64]
set -euo pipefail
cd "$(dirname "$0")/.."
/usr/bin/python3 -c 'import libtorrent' 2>/dev/null || scripts/install-test-deps.sh
cargo build --release -q -p riffle-cli --bin riffle
/usr/bin/python3 scripts/bench/dht_magnet.py target/release/riffle "${1:-5}" "${2:-8}" "${3:-64}"
echo
cargo run --release -q -p riffle-protocol --example dht_memory
