#!/usr/bin/env bash
# Everything CI runs, in one command: system packages (first run only), formatting,
# lints, a build of every crate (plugins are separate .so files the tests load), and
# every test — unit, doc, and end-to-end with real processes and real files.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Headless, reproducible rendering on Mesa's software Vulkan (see FINDINGS / README).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d /tmp/daqflow-xdg.XXXXXX)}"
chmod 0700 "$XDG_RUNTIME_DIR"
if [ -f /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  export VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
fi
export LP_NUM_THREADS="${LP_NUM_THREADS:-2}"
echo "== cargo fmt --check" >&2
cargo fmt --all -- --check
echo "== cargo build --workspace" >&2
cargo build --workspace --all-targets
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --no-fail-fast "$@"
