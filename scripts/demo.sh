#!/usr/bin/env bash
# Builds everything (release) and runs the demo pipeline: a simulated detector into the
# live viewer and an HDF5 file. Extra arguments go to `daqflow run`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace
mkdir -p out
# Mesa's software adapters warn without a runtime dir (ssh sessions, containers).
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="$(mktemp -d /tmp/daqflow-xdg.XXXXXX)"
  chmod 0700 "$XDG_RUNTIME_DIR"
fi
exec target/release/daqflow run configs/demo.toml "$@"
