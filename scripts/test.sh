#!/usr/bin/env bash
# riffle's whole test suite: installs the real peers the interop tests need
# (Debian packages), checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The end-to-end tests run the riffle binary: build it once here and hand
# the tests a copy (RIFFLE_BIN), rather than have every test process ask
# cargo again (each would wait on the build lock, and the workspace build
# below writes its own feature set's riffle to the same target path).
cargo build --quiet -p riffle-cli --bin riffle
target_dir="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
mkdir -p "$target_dir/test-bin"
cp "$target_dir/debug/riffle" "$target_dir/test-bin/riffle"
export RIFFLE_BIN="$target_dir/test-bin/riffle"
# No public DHT router for any riffle the tests start (riffle_bin() sets
# this too): the suite talks to 127.0.0.1 only.
export RIFFLE_DHT_BOOTSTRAP=
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
