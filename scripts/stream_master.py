#!/usr/bin/env python3
"""Writes the master file of a run spread over several writer processes: a NeXus file
whose /entry/data/data (and frame_number, timestamp) are virtual datasets presenting
the frames of every part once, in frame-number order. The parts are files of daqflow's
`hdf5` writer (each one writer process's share: e.g. blocks of frames received from a
`stream` sink with several endpoints). Each part's `frame_number` dataset says where its
frames go; a frame missing or present twice is an error (the master would be wrong).

usage: stream_master.py MASTER.h5 PART.h5 [PART.h5 ...]
Needs h5py (the project's .venv has it). Parts are referenced by relative path, so keep
them beside the master.
"""

import os
import sys

import h5py
import numpy as np

DET = "entry/instrument/detector"


def runs(numbers):
    """(first index, first frame number, length) of each run of consecutive numbers."""
    out, start = [], 0
    for i in range(1, len(numbers) + 1):
        if i == len(numbers) or numbers[i] != numbers[i - 1] + 1:
            out.append((start, int(numbers[start]), i - start))
            start = i
    return out


def main(master, parts):
    info = []
    for p in parts:
        with h5py.File(p, "r") as f:
            d = f[f"{DET}/data"]
            info.append((p, f[f"{DET}/frame_number"][()], d.shape[1:], d.dtype))
    shapes = {(i[2], i[3]) for i in info}
    if len(shapes) != 1:
        sys.exit(f"parts differ in frame shape or dtype: {shapes}")
    (shape, dtype), = shapes
    numbers = np.concatenate([i[1] for i in info]) if info else np.array([], np.uint64)
    n = len(numbers)
    first = int(numbers.min()) if n else 0
    seen = np.zeros(n, bool)
    for num in numbers:
        k = int(num) - first
        if k < 0 or k >= n or seen[k]:
            sys.exit(f"frame {num} is missing from the numbering or present twice: "
                     f"the parts do not hold frames {first}..{first + n - 1} once each")
        seen[k] = True
    here = os.path.dirname(os.path.abspath(master))
    layouts = {
        "data": h5py.VirtualLayout(shape=(n,) + shape, dtype=dtype),
        "frame_number": h5py.VirtualLayout(shape=(n,), dtype=np.uint64),
        "timestamp": h5py.VirtualLayout(shape=(n,), dtype=np.uint64),
    }
    for path, nums, _, _ in info:
        rel = os.path.relpath(os.path.abspath(path), here)
        srcs = {
            "data": h5py.VirtualSource(rel, f"{DET}/data", shape=(len(nums),) + shape, dtype=dtype),
            "frame_number": h5py.VirtualSource(rel, f"{DET}/frame_number", shape=(len(nums),)),
            "timestamp": h5py.VirtualSource(rel, f"{DET}/timestamp", shape=(len(nums),)),
        }
        for i, num, length in runs(nums):
            at = num - first
            for key, layout in layouts.items():
                layout[at:at + length] = srcs[key][i:i + length]
    tmp = master + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.attrs["NX_class"] = "NXroot"
        f.attrs["default"] = "entry"
        f.attrs["creator"] = "daqflow scripts/stream_master.py"
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry.attrs["default"] = "data"
        entry["frame_count"] = np.uint64(n)
        inst = entry.create_group("instrument")
        inst.attrs["NX_class"] = "NXinstrument"
        det = inst.create_group("detector")
        det.attrs["NX_class"] = "NXdetector"
        for key, layout in layouts.items():
            det.create_virtual_dataset(key, layout, fillvalue=0)
        nxdata = entry.create_group("data")
        nxdata.attrs["NX_class"] = "NXdata"
        nxdata.attrs["signal"] = "data"
        nxdata["data"] = det["data"]
        # The first part's series description (NXdetector fields, NXbeam), copied.
        with h5py.File(info[0][0], "r") as p:
            pdet = p[DET]
            for name, obj in pdet.items():
                if isinstance(obj, h5py.Dataset) and obj.shape == () and name not in det:
                    pdet.copy(obj, det, name=name)
            if "detectorSpecific" in pdet:
                pdet.copy(pdet["detectorSpecific"], det, name="detectorSpecific")
            if "entry/instrument/beam" in p:
                p.copy(p["entry/instrument/beam"], inst, name="beam")
    os.replace(tmp, master)
    print(f"{master}: {n} frames ({first}..{first + n - 1}) from {len(parts)} parts")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
