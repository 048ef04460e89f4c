#!/usr/bin/env bash
# Times `riffle create` against libtorrent's create_torrent (v1 only, same
# piece length) on the same file, alternating, and prints the median of
# each. Usage: scripts/bench-create.sh [SIZE_MiB=1024] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1024}
runs=${2:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
scripts/install-test-deps.sh
cargo build --release -q -p riffle-cli
head -c "$((size * 1024 * 1024))" /dev/urandom > "$dir/payload.bin"
cat > "$dir/lt_create.py" <<'PY'
import sys
import libtorrent as lt
fs = lt.file_storage()
lt.add_files(fs, sys.argv[1])
ct = lt.create_torrent(fs, 1 << 20, flags=lt.create_torrent.v1_only)
lt.set_piece_hashes(ct, sys.argv[2])
open(sys.argv[3], "wb").write(lt.bencode(ct.generate()))
PY
for i in $(seq "$runs"); do
  sync
  /usr/bin/time -f "riffle %e %U %S %M" -a -o "$dir/times" \
    target/release/riffle create "$dir/payload.bin" -o "$dir/riffle.torrent" --piece-length 1MiB >/dev/null
  sync
  /usr/bin/time -f "libtorrent %e %U %S %M" -a -o "$dir/times" \
    /usr/bin/python3 "$dir/lt_create.py" "$dir/payload.bin" "$dir" "$dir/lt.torrent"
done
same=$(target/release/riffle info --json "$dir/riffle.torrent" | grep info_hash)
same_lt=$(target/release/riffle info --json "$dir/lt.torrent" | grep info_hash)
[ "$same" = "$same_lt" ] && echo "same info-hash from both: $(echo "${same##*: }" | tr -d "\",")" || echo "info-hashes differ!"
for who in riffle libtorrent; do
  grep "^$who " "$dir/times" | sort -k2 -n | awk -v n="$runs" -v who="$who" -v mib="$size" \
    'NR == int((n + 1) / 2) { printf "%-10s median wall %.2f s (%.0f MiB/s)  user %s s  sys %s s  peak RSS %s KiB\n", who, $2, mib / $2, $3, $4, $5 }'
done
