"""An independent stream-v2 reader for the `stream` sink's tests: pyzmq PULL, cbor2 for
the CBOR, and DECTRIS's own `dectris-compression` package for the compressed chunks
(the decoding DECTRIS's example client uses). Reads one series (start … end) and saves
the decoded images, the raw compressed chunks and the start message into an .npz.

usage: stream_reader.py ENDPOINT OUT.npz
"""

import json
import sys

import cbor2
import numpy as np
import zmq
from dectris.compression import decompress

endpoint, out = sys.argv[1], sys.argv[2]
chunks = {}

TYPED = {64: "u1", 68: "u1", 69: "<u2", 70: "<u4", 85: "<f4"}


def tag_hook(*args):
    # cbor2 < 6 calls tag_hook(decoder, tag); cbor2 >= 6 calls tag_hook(tag, immutable).
    tag = next(a for a in args if isinstance(a, cbor2.CBORTag))
    if tag.tag == 56500:
        alg, elem, encoded = tag.value
        chunks["last"] = (alg, elem, bytes(encoded))
        return decompress(encoded, alg, elem_size=elem)
    if tag.tag in TYPED:
        return np.frombuffer(tag.value, dtype=TYPED[tag.tag])
    if tag.tag == 40:
        dims, arr = tag.value
        return arr.reshape(dims)
    return tag


ctx = zmq.Context()
sock = ctx.socket(zmq.PULL)
sock.setsockopt(zmq.RCVTIMEO, 60000)
sock.setsockopt(zmq.LINGER, 0)
sock.connect(endpoint)
print("connected", flush=True)
saved = {}
start = None
while True:
    raw = sock.recv()
    assert raw[:3] == b"\xd9\xd9\xf7", "no self-describe tag"
    msg = cbor2.loads(raw, tag_hook=tag_hook)
    if msg["type"] == "start":
        start = {k: v for k, v in msg.items() if isinstance(v, (int, float, str, list, tuple, dict))}
    elif msg["type"] == "image":
        assert start is not None, "image before start"
        (name, arr), = msg["data"].items()
        if isinstance(arr, (bytes, bytearray)):
            raise AssertionError("data is not an array")
        i = msg["image_id"]
        saved[f"image_{i}"] = np.asarray(arr)
        if "last" in chunks:
            alg, elem, enc = chunks.pop("last")
            saved[f"chunk_{i}"] = np.frombuffer(enc, np.uint8)
            saved[f"alg_{i}"] = np.array(alg)
        saved["channel"] = np.array(name)
    elif msg["type"] == "end":
        assert msg["series_id"] == start["series_id"]
        break
saved["start"] = np.array(json.dumps(start, default=str))
np.savez(out, **saved)
print("done", flush=True)
