#!/usr/bin/env bash
# Runs every check coupa-sync has: formatting, lints, and all tests. It installs what the tests need
# when it is missing, so it works on a fresh machine; CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

need_rust_component() {
    cargo "$1" --version >/dev/null 2>&1 || rustup component add "$2"
}
need_rust_component fmt rustfmt
need_rust_component clippy clippy

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
