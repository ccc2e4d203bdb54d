#!/usr/bin/env bash
# Builds every plugin in release and runs the benches (they load the release .so files).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace
cargo bench -p daqflow-benches "$@"
