#!/usr/bin/env bash
# riffle's whole test suite: installs the real peers the interop tests need
# (Debian packages), checks formatting and lints, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The end-to-end tests run the riffle binary: build it once here rather
# than inside the first test of each test binary (a cold build there eats
# into that test's time limit).
cargo build --quiet -p riffle-cli --bin riffle
# No public DHT router for any riffle the tests start (riffle_bin() sets
# this too): the suite talks to 127.0.0.1 only.
export RIFFLE_DHT_BOOTSTRAP=
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
