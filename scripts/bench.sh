#!/usr/bin/env bash
# Builds every plugin in release and runs every bench (they load the release .so files):
#   benches/                framework overhead vs memcpy / memset / GStreamer's queue hop,
#                           and acquisition throughput with the viewer attached vs without,
#                           every standard filter vs its kernel in a plain loop (filters),
#                           and workers = 2 vs workers = 1 (workers)
#   plugins/hdf5/benches    writer vs raw File::write_all, bslz4 GB/s per core, vs h5py
# Numbers are for people: run on a quiet machine; nothing here asserts on time.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --workspace
cargo bench -p daqflow-benches "$@"
cargo bench -p daqflow-plugin-hdf5 --bench write "$@"
