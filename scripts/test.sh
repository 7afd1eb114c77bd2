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

# The SFTP tests talk to a real OpenSSH sshd and drive our sandbox with OpenSSH's sftp client.
if ! command -v sftp >/dev/null 2>&1 || [ ! -x /usr/sbin/sshd ]; then
    echo "== installing openssh-server and openssh-client"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq openssh-server openssh-client >/dev/null
fi

# The store's tests start a throw-away PostgreSQL cluster with initdb and pg_ctl, serving TLS with
# a certificate made by openssl.
if { ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; } \
    || ! command -v openssl >/dev/null 2>&1; then
    echo "== installing postgresql and openssl"
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq postgresql openssl >/dev/null
fi

echo "== rustfmt"
cargo fmt --all --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
cargo test --workspace --locked
