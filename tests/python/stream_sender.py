"""A test sender of DECTRIS streams (v2 CBOR or v1 legacy) over ZeroMQ PUSH, for the
`dectris` source's end-to-end tests. Pixels are deterministic (seeded) and written to
`<out>.npz` so the test compares the HDF5 file with what was sent; compressed chunks
are made by HDF5's own bitshuffle/LZ4 filters (hdf5plugin, an implementation we did not
write) and read back raw with `read_direct_chunk`, and stored in the .npz too.

usage: stream_sender.py JSON_ARGS
  endpoint      "tcp://127.0.0.1:*" (bound; the address is printed as the first line)
  protocol      "stream2" | "legacy"
  dtype         "u8" | "u16" | "u32"
  compression   "none" | "bslz4" | "lz4"
  width, height, series: [ids], images: per series
  kill_after    exit abruptly (os._exit) after this many images of the last series
  malformed     send the malformed-message corpus before the series
  out           path prefix for the .npz of what was sent
"""

import json
import os
import sys
import tempfile
import time

import cbor2
import h5py
import hdf5plugin
import numpy as np
import zmq

args = json.loads(sys.argv[1])
dtype = {"u8": np.uint8, "u16": np.uint16, "u32": np.uint32}[args["dtype"]]
tag = {"u8": 64, "u16": 69, "u32": 70}[args["dtype"]]
w, h = args["width"], args["height"]
comp = args.get("compression", "none")
proto = args.get("protocol", "stream2")

ctx = zmq.Context()
sock = ctx.socket(zmq.PUSH)
sock.setsockopt(zmq.LINGER, 20000)
sock.bind(args["endpoint"])
# The address really bound (`tcp://127.0.0.1:*` picks a free port): the test reads it.
print(sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)


def chunks_of(frames):
    """The frames compressed by HDF5's own filters, read back as raw chunks."""
    if comp == "none":
        return [f.tobytes() for f in frames]
    flt = hdf5plugin.Bitshuffle(cname="lz4") if comp == "bslz4" else hdf5plugin.LZ4()
    path = tempfile.mktemp(suffix=".h5")
    with h5py.File(path, "w") as f:
        d = f.create_dataset("d", data=frames, chunks=(1, h, w), **flt)
        out = [d.id.read_direct_chunk((i, 0, 0))[1] for i in range(len(frames))]
    os.unlink(path)
    return out


def send_v2(msg):
    sock.send(cbor2.dumps(cbor2.CBORTag(55799, msg)))


def image_v2(series, i, chunk):
    if comp == "none":
        arr = cbor2.CBORTag(tag, chunk)
    else:
        elem = np.dtype(dtype).itemsize if comp == "bslz4" else 0
        arr = cbor2.CBORTag(tag, cbor2.CBORTag(56500, [comp, elem, chunk]))
    return {
        "type": "image",
        "series_id": series,
        "series_unique_id": f"S{series}",
        "image_id": i,
        "real_time": [100, 1000],
        "start_time": [i * 100, 1000],
        "stop_time": [i * 100 + 100, 1000],
        "data": {"threshold_1": cbor2.CBORTag(40, [[h, w], arr])},
    }


START_FIELDS = {
    "count_time": 0.099,
    "frame_time": 0.1,
    "incident_wavelength": 1.0332,
    "incident_energy": 12000.0,
    "beam_center_x": 512.5,
    "beam_center_y": 256.25,
    "pixel_size_x": 7.5e-05,
    "pixel_size_y": 7.5e-05,
    "sensor_material": "Si",
    "sensor_thickness": 0.00045,
    "detector_description": "Dectris EIGER2 Si 500K",
    "detector_serial_number": "E-02-0123",
}


def start_v2(series, n):
    m = {"type": "start", "series_id": series, "series_unique_id": f"S{series}",
         "number_of_images": n, "image_size_x": w, "image_size_y": h,
         "channels": ["threshold_1"], "goniometer": {"omega": {"start": 0.0, "increment": 0.1}},
         "user_data": {"sample": "lysozyme"}}
    m.update(START_FIELDS)
    m["series_id"] = series
    return m


def send_v1_start(series, n):
    sock.send_multipart([
        json.dumps({"htype": "dheader-1.0", "series": series, "header_detail": "basic"}).encode(),
        json.dumps({"beam_center_x": 512.5, "beam_center_y": 256.25, "count_time": 0.099,
                    "frame_time": 0.1, "nimages": n, "ntrigger": 1, "wavelength": 1.0332,
                    "x_pixel_size": 7.5e-05, "y_pixel_size": 7.5e-05,
                    "description": "Dectris EIGER2 Si 500K", "detector_number": "E-02-0123",
                    "sensor_material": "Si", "sensor_thickness": 0.00045,
                    "x_pixels_in_detector": w, "y_pixels_in_detector": h}).encode(),
    ])


def send_v1_image(series, i, chunk):
    enc = {"none": "<", "bslz4": f"bs{8 * np.dtype(dtype).itemsize}-lz4<", "lz4": "lz4<"}[comp]
    if comp == "lz4":
        # v1 `lz4<` is one bare LZ4 block: the HDF5 LZ4 chunk's only block, unframed.
        chunk = chunk[16:]
    sock.send_multipart([
        json.dumps({"htype": "dimage-1.0", "series": series, "frame": i, "hash": ""}).encode(),
        json.dumps({"htype": "dimage_d-1.0", "shape": [w, h], "type": np.dtype(dtype).name,
                    "encoding": enc, "size": len(chunk)}).encode(),
        chunk,
        json.dumps({"htype": "dconfig-1.0", "start_time": i, "stop_time": i + 1,
                    "real_time": 1}).encode(),
    ])


def corpus():
    """Malformed messages, each of a known kind (the test counts them)."""
    good = cbor2.dumps(cbor2.CBORTag(55799, image_v2(99, 0, np.zeros((h, w), dtype).tobytes())))
    bad = [
        b"\x00\x01garbage",                    # not CBOR (an integer + trailing bytes)
        good[: len(good) // 2],                # truncated
        b"\xd9\xd9\xf7\xa0",                   # a map without `type`
        cbor2.dumps({"type": "calibration"}),  # unknown type
        cbor2.dumps(cbor2.CBORTag(55799, {"type": "image", "series_id": 99, "image_id": 0,
            "data": {"t": cbor2.CBORTag(40, [[h, w], cbor2.CBORTag(tag, b"\x00" * 5)])}})),
        cbor2.dumps(cbor2.CBORTag(55799, {"type": "image", "series_id": 99, "image_id": 0,
            "data": {"t": cbor2.CBORTag(40, [[h, w], cbor2.CBORTag(tag,
                cbor2.CBORTag(56500, ["bslz4", np.dtype(dtype).itemsize, b"\x00" * 30]))])}})),
        cbor2.dumps(cbor2.CBORTag(55799, {"type": "image", "series_id": 99, "image_id": 0,
            "data": {"t": cbor2.CBORTag(40, [[h, w], cbor2.CBORTag(66, b"\x00" * (4 * w * h))])}})),
    ]
    kinds = {"malformed_messages": 3, "unknown_messages": 1, "bad_array_size": 1,
             "bad_compressed_images": 1, "unsupported_images": 1}
    for m in bad:
        sock.send(m)
    return kinds


rng = np.random.default_rng(args.get("seed", 7))
top = min(np.iinfo(dtype).max, 4000)
sent = {}
if args.get("malformed"):
    sent["corpus"] = np.array(json.dumps(corpus()))
series_list = args["series"]
for si, series in enumerate(series_list):
    n = args["images"]
    frames = rng.poisson(3.0, size=(n, h, w)).clip(0, top).astype(dtype)
    frames[:, 0, :] = np.arange(w) % (top + 1)  # a recognisable first row
    chunks = chunks_of(frames)
    sent[f"frames_{series}"] = frames
    for i, c in enumerate(chunks):
        sent[f"chunk_{series}_{i}"] = np.frombuffer(c, np.uint8)
    np.savez(args["out"] + ".npz", **sent)
    if proto == "stream2":
        send_v2(start_v2(series, n))
    else:
        send_v1_start(series, n)
    last = si == len(series_list) - 1
    for i, c in enumerate(chunks):
        if last and args.get("kill_after") is not None and i == args["kill_after"]:
            # Let libzmq push what it queued, then die without an end message.
            time.sleep(1.0)
            os._exit(0)
        if proto == "stream2":
            send_v2(image_v2(series, i, c))
        else:
            send_v1_image(series, i, c)
    if proto == "stream2":
        send_v2({"type": "end", "series_id": series, "series_unique_id": f"S{series}"})
    else:
        sock.send_multipart([json.dumps({"htype": "dseries_end-1.0", "series": series}).encode()])
sock.close()  # lingers until the receiver has everything (LINGER above)
ctx.term()
print("sent", flush=True)
