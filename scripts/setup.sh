#!/usr/bin/env bash
# Installs what daqflow's build, demo and tests need on a Debian/Ubuntu machine:
#   - system libraries: HDF5 (libhdf5-dev, hdf5-tools), Aravis 0.8 (GenICam cameras), Mesa's software Vulkan/GL
#     adapters for the headless viewer, Xvfb for the windowed viewer smoke test;
#   - a Python virtualenv (.venv) with h5py + hdf5plugin, the reference readers the
#     tests compare our HDF5 files against.
# Idempotent: a second run installs nothing and takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  pkg-config libhdf5-dev hdf5-tools
  mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri
  xvfb xauth libx11-6 libx11-xcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
  imagemagick python3-venv
  # genicam plugin: libaravis 0.8 (+ libusb headers it needs but does not pull in), the
  # fake GigE Vision camera and arv-camera-test (tests, bench), arv-tool (diagnostics)
  libaravis-dev libusb-1.0-0-dev aravis-tools aravis-tools-cli
  # web sink (plugins/web): its browser tests drive Debian's headless Chromium.
  chromium
  # The `python` plugin embeds Debian's Python 3.11 (PYO3_PYTHON in .cargo/config.toml):
  # libpython3.11.so + headers to build, numpy for the interpreter it starts.
  python3.11 python3.11-dev python3.11-venv python3-numpy
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import h5py, hdf5plugin, numpy" 2>/dev/null; then
  echo "setup: creating .venv with h5py + hdf5plugin" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "h5py>=3.10" "hdf5plugin>=5" numpy
fi

# web sink (plugins/web): Playwright drives the system Chromium (/usr/bin/chromium);
# never `playwright install` (its browser download is not used).
if ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  echo "setup: installing playwright into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check playwright
fi

# Issue 11 (DECTRIS stream): the e2e tests send and read stream v1/v2 with independent
# Python implementations — pyzmq + cbor2, DECTRIS's decompression package (their example
# client's reader), and LiberTEM's stream v1 simulator (libertem-dectris, Rust).
stream_py=(pyzmq cbor2 "dectris-compression>=0.3" "libertem-dectris>=0.3")
if ! .venv/bin/python -c "import zmq, cbor2, dectris.compression, libertem_dectris" 2>/dev/null; then
  echo "setup: installing the stream test packages: ${stream_py[*]}" >&2
  .venv/bin/pip install -q --disable-pip-version-check "${stream_py[@]}"
fi
