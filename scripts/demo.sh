#!/usr/bin/env bash
# Builds everything (release) and runs the demo pipeline: a simulated detector into the
# live viewer and an HDF5 file. Extra arguments go to `daqflow run`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace
mkdir -p out
exec target/release/daqflow run configs/demo.toml "$@"
