#!/usr/bin/env bash
# Download benchmark on loopback (issue 3): riffle against libtorrent's own
# leecher from the same libtorrent seeder, the seeder's ceiling (null
# leecher), riffle to riffle, and a multi-file torrent. Alternating runs,
# `sync` between runs, medians. Prints a markdown table for
# docs/performance.md.
#
# Usage: scripts/bench.sh [RUNS=3]
# Environment: BENCH_MIB (payload size, default 1024), BENCH_FILES (files in
# the multi-file torrent, default 40), BENCH_DIR (parent of the scratch
# directory, default /tmp; it must be on a real disk, not tmpfs),
# BENCH_KEEP=1 keeps the scratch directory, BENCH_TIMEOUT (default 120)
# bounds each run in seconds, BENCH_WAIT (default 180) bounds the wait for
# other builds, BENCH_NO_BUILD=1 uses the binaries in target/release as
# they are, BENCH_PROFILE=DIR adds one profiled riffle download,
# BENCH_RIFFLE=PATH measures another riffle binary (not built).
#
# The riffle rows need `riffle download` (and `riffle seed` for riffle to
# riffle); without them those rows are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
runs=${1:-${BENCH_RUNS:-3}}
mib=${BENCH_MIB:-1024}
files=${BENCH_FILES:-40}
py=/usr/bin/python3 # Debian's python: the only one with libtorrent
helpers=$repo/scripts/bench

log() { printf '%s\n' "$*" >&2; }

# --- tools -----------------------------------------------------------------
need=()
[ -x /usr/bin/time ] || need+=(time)
$py -c 'import libtorrent' 2>/dev/null || need+=(python3-libtorrent)
if [ ${#need[@]} -gt 0 ]; then
  log "installing: ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Loopback only: riffle's DHT joins through no public router (libtorrent
# runs with its DHT off here).
export RIFFLE_DHT_BOOTSTRAP=
riffle=${BENCH_RIFFLE:-$repo/target/release/riffle}
null=$repo/target/release/null_leecher
# build PACKAGE [BIN]: build in release; in a tree where someone is mid-edit
# the build can fail, and then an existing binary is used with a warning.
build() {
  local bin=${2:-}
  if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then return 0; fi
  log "building $1 (release)"
  if ! cargo build --release -q -p "$1" ${bin:+--bin "$bin"}; then
    local exe=$repo/target/release/${bin:-riffle}
    [ -x "$exe" ] || { log "error: build of $1 failed and there is no $exe"; exit 1; }
    log "WARNING: build of $1 failed; using the existing $exe from $(date -r "$exe" -u +%H:%M:%SZ)"
  fi
}
[ -n "${BENCH_RIFFLE:-}" ] || build riffle-cli
build riffle-tests null_leecher
have_download=0
have_seed=0
"$riffle" download --help >/dev/null 2>&1 && have_download=1
"$riffle" seed --help >/dev/null 2>&1 && have_seed=1
if [ $have_download -eq 0 ]; then
  log "NOTE: this riffle has no 'download' subcommand yet: skipping every riffle row"
  log "      (libtorrent leecher and null leecher only)"
elif [ $have_seed -eq 0 ]; then
  log "NOTE: this riffle has no 'seed' subcommand yet: skipping riffle to riffle"
fi

# --- scratch directory on the same disk as the repo ------------------------
work=$(mktemp -d -p "${BENCH_DIR:-/tmp}" riffle-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fs=$(stat -f -c %T "$work")
if [ "$fs" = tmpfs ] || [ "$fs" = ramfs ]; then
  log "error: $work is on $fs; set BENCH_DIR to a directory on a disk"
  exit 2
fi
log "scratch: $work ($(df -h --output=source,avail "$work" | tail -1 | xargs))"
if [ "$(df --output=source "$work" | tail -1)" != "$(df --output=source "$repo" | tail -1)" ]; then
  log "note: $work is not on the same disk as $repo (set BENCH_DIR to change it)"
fi

# --- payloads and torrents -------------------------------------------------
log "writing payloads: $mib MiB single file, ~$mib MiB in $files files"
mkdir -p "$work/seed"
$py "$helpers/make_payload.py" single "$work/seed/single.bin" "$mib"
$py "$helpers/make_payload.py" multi "$work/seed/multi" "$mib" "$files"
"$riffle" create "$work/seed/single.bin" -o "$work/single.torrent" --piece-length 1MiB >/dev/null
"$riffle" create "$work/seed/multi" -o "$work/multi.torrent" --piece-length 1MiB >/dev/null
{
  echo "single $(stat -c %s "$work/seed/single.bin")"
  echo "r2r $(stat -c %s "$work/seed/single.bin")"
  echo "multi $(find "$work/seed/multi" -type f -printf '%s\n' | awk '{s += $1} END {print s}')"
  echo "multi_files $files"
} >"$work/sizes"
sync

# --- seeders, started once ------------------------------------------------
log "starting the libtorrent seeder (high_performance_seed)"
$py "$helpers/lt_seed.py" "$work/single.torrent" "$work/seed" "$work/multi.torrent" "$work/seed" \
  >"$work/lt_seed.out" 2>"$work/lt_seed.err" &
pids+=($!)
lt_pid=$!
for _ in $(seq 600); do
  grep -q '^port ' "$work/lt_seed.out" && break
  kill -0 $lt_pid 2>/dev/null || { cat "$work/lt_seed.err" >&2; exit 1; }
  sleep 0.1
done
lt_port=$(awk '/^port /{print $2}' "$work/lt_seed.out")
[ -n "$lt_port" ] || { log "libtorrent seeder never became ready"; exit 1; }
log "libtorrent seeder on 127.0.0.1:$lt_port"

# Wait until process $1 has used no CPU for a second (e.g. done hashing).
wait_idle() {
  local prev=-1 now
  for _ in $(seq 240); do
    now=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$now" -le $((prev + 2)) ] && return 0
    prev=$now
    sleep 1
  done
}

r_port=""
if [ $have_download -eq 1 ] && [ $have_seed -eq 1 ]; then
  log "starting riffle seed"
  "$riffle" seed "$work/single.torrent" --data "$work/seed" --listen 127.0.0.1:0 \
    >"$work/r_seed.out" 2>"$work/r_seed.err" &
  pids+=($!)
  r_pid=$!
  for _ in $(seq 600); do
    grep -q '^listening on ' "$work/r_seed.out" && break
    kill -0 $r_pid 2>/dev/null || break
    sleep 0.1
  done
  r_port=$(awk '/^listening on /{sub(/.*:/, "", $3); print $3; exit}' "$work/r_seed.out")
  if [ -z "$r_port" ] || ! wait_idle $r_pid; then
    log "riffle seed did not start; skipping riffle to riffle:"
    tail -5 "$work/r_seed.err" >&2
    r_port=""
  else
    log "riffle seeder on 127.0.0.1:$r_port"
  fi
fi

# --- measured runs -----------------------------------------------------------
# measure CASE CLIENT CMD...: time CMD from process start to exit, append
# `CASE CLIENT ok|failed wall user sys maxrss` to $work/times.
# The seeder's CPU time during the run (process $seed_pid) goes in an 8th
# field, in seconds.
seed_pid=""
seed_ticks() { awk '{print $14 + $15}' "/proc/$seed_pid/stat" 2>/dev/null || echo 0; }
measure() {
  local case=$1 client=$2 status=ok before
  shift 2
  sync
  before=$(seed_ticks)
  if ! /usr/bin/time -f "%e %U %S %M" -o "$work/one" timeout -k 5 "${BENCH_TIMEOUT:-120}" "$@" \
    >"$work/run.out" 2>"$work/run.err"; then
    status=failed
    log "  $case $client FAILED: $*"
    tail -5 "$work/run.err" >&2
  fi
  local t
  t=$(tail -1 "$work/one")
  local seed_cpu
  seed_cpu=$(awk -v a="$before" -v b="$(seed_ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN {print (b - a) / hz}')
  echo "$case $client $status $t $seed_cpu" >>"$work/times"
  log "  $case $client $status: wall/user/sys/maxrss_kib $t"
  sync
}

# check CASE [nomark]: the download in $work/out matches the seeded data; then clear it.
check() {
  local got want
  case $1 in
    single | r2r) got=$work/out/single.bin want=$work/seed/single.bin ;;
    multi) got=$work/out/multi want=$work/seed/multi ;;
  esac
  if ! diff -rq "$want" "$got" >/dev/null 2>&1; then
    log "  $1: downloaded data differs from the seeded data!"
    [ "${2:-}" = nomark ] || sed -i '$ s/ ok / failed /' "$work/times"
  fi
  rm -rf "$work/out"
  sync
}

lt_leech() { # CASE
  mkdir -p "$work/out"
  seed_pid=$lt_pid
  measure "$1" libtorrent $py "$helpers/lt_leech.py" "$work/$1.torrent" "$work/out" "127.0.0.1:$lt_port"
  check "$1"
}
riffle_leech() { # CASE TORRENT PORT SEEDER_PID
  [ $have_download -eq 1 ] || return 0
  mkdir -p "$work/out"
  seed_pid=$4
  measure "$1" riffle "$riffle" download "$work/$2.torrent" -o "$work/out" \
    --listen 127.0.0.1:0 --peer "127.0.0.1:$3"
  check "$1"
}

# Other builds on this 2-core machine skew every figure: wait (up to
# BENCH_WAIT seconds, default 180) until no rustc is running.
waited=0
while pgrep -x rustc >/dev/null && [ $waited -lt "${BENCH_WAIT:-180}" ]; do
  [ $waited -eq 0 ] && log "waiting for other builds (rustc) to finish..."
  sleep 5
  waited=$((waited + 5))
done
pgrep -x rustc >/dev/null && log "WARNING: rustc still running: figures will be noisy"
log "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$work/times"
for i in $(seq "$runs"); do
  log "round $i of $runs"
  for case in single multi; do
    if [ $((i % 2)) -eq 1 ]; then
      lt_leech $case
      riffle_leech $case $case "$lt_port" "$lt_pid"
    else
      riffle_leech $case $case "$lt_port" "$lt_pid"
      lt_leech $case
    fi
    if [ $case = single ]; then
      seed_pid=$lt_pid
      measure single null "$null" "$work/single.torrent" "127.0.0.1:$lt_port"
      if [ -n "$r_port" ]; then
        riffle_leech r2r single "$r_port" "$r_pid"
        seed_pid=$r_pid
        measure r2r null "$null" "$work/single.torrent" "127.0.0.1:$r_port"
      fi
    fi
  done
done
log "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- optional profile of one riffle download ----------------------------------
# BENCH_PROFILE=DIR: one more download (BENCH_PROFILE_CASE: single, the
# default, or multi) from the libtorrent seeder
# under `perf record` (cpu-clock: this VM has no hardware counters), with the
# perf data and the top functions written to DIR.
if [ -n "${BENCH_PROFILE:-}" ] && [ $have_download -eq 1 ]; then
  mkdir -p "$BENCH_PROFILE" "$work/out"
  log "profiling one riffle download into $BENCH_PROFILE"
  sync
  pcase=${BENCH_PROFILE_CASE:-single}
  perf record -q -e cpu-clock -F 1999 --call-graph dwarf,16384 -o "$BENCH_PROFILE/perf.data" -- \
    "$riffle" download "$work/$pcase.torrent" -o "$work/out" --listen 127.0.0.1:0 \
    --peer "127.0.0.1:$lt_port" >/dev/null 2>"$work/perf.err" || tail -5 "$work/perf.err" >&2
  check "$pcase" nomark
  perf report -i "$BENCH_PROFILE/perf.data" --no-children --sort comm,dso,symbol --stdio \
    --percent-limit 0.5 -g none 2>/dev/null >"$BENCH_PROFILE/self.txt" || true
  perf report -i "$BENCH_PROFILE/perf.data" --children --sort symbol --stdio \
    --percent-limit 2 -g none 2>/dev/null >"$BENCH_PROFILE/children.txt" || true
  log "top functions (self time):"
  grep -v '^#' "$BENCH_PROFILE/self.txt" | grep '%' | head -25 | sed 's/ *[-] *[-] *$//' | cut -c1-120 >&2
fi

# --- report --------------------------------------------------------------------
echo
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
echo "riffle $(git -C "$repo" rev-parse --short HEAD), libtorrent $($py -c 'import libtorrent as lt; print(lt.__version__)'),"
echo "median of $runs alternating runs, 1 MiB pieces, loopback, \`sync\` between runs."
echo "Wall time is process start to exit. riffle's includes its fsync of the data"
echo "before it exits; libtorrent's leecher never syncs (the bench syncs after each"
echo "run, untimed). Peak RSS counts mapped file pages (libtorrent maps the file)."
echo
python3 "$helpers/report.py" "$work/times" "$work/sizes"
