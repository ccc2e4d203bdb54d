"""Feeds the `dectris` source a stream v1 made by an implementation we did not write:
LiberTEM's `libertem_dectris.DectrisSim` (Rust, PyPI `libertem-dectris`), in its mocked
mode (EIGER-like header and detector config sent as two messages, bitshuffle-LZ4 images).
Every message is passed through unchanged (PULL from the simulator, PUSH to daqflow)
and recorded in `<out>.npz`, so the test compares the HDF5 file with the sender's bytes.

usage: peer_libertem.py FRAMES OUT   (prints the endpoint to connect to, first line)
"""

import json
import os
import sys
import threading

import libertem_dectris
import numpy as np
import zmq

n, out = int(sys.argv[1]), sys.argv[2]
sim = libertem_dectris.DectrisSim.new_mocked("tcp://127.0.0.1", n, random_port=True)
ctx = zmq.Context()
src = ctx.socket(zmq.PULL)
src.connect(sim.get_uri())
dst = ctx.socket(zmq.PUSH)
dst.setsockopt(zmq.LINGER, 30000)
dst.bind("tcp://127.0.0.1:*")
print(dst.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
config = json.loads(sim.get_detector_config_raw())

t = threading.Thread(
    target=lambda: (sim.send_headers(), sim.send_frames(), sim.send_footer()), daemon=True
)
t.start()
rec = {"description": np.array(config["description"])}
src.setsockopt(zmq.RCVTIMEO, 30000)
while True:
    parts = src.recv_multipart()
    head = json.loads(parts[0]) if parts[0][:1] == b"{" else {}
    if head.get("htype", "").startswith("dimage-"):
        info = json.loads(parts[1])
        rec[f"blob_{head['frame']}"] = np.frombuffer(parts[2], np.uint8)
        rec["shape"] = np.array(info["shape"])
        rec["encoding"] = np.array(info["encoding"])
    dst.send_multipart(parts)
    if head.get("htype", "").startswith("dseries_end"):
        break
np.savez(out + ".npz", **rec)
src.close(linger=0)
dst.close()  # ctx.term() waits until daqflow has taken everything (LINGER above)
ctx.term()
# The simulator's own thread and sockets may linger: leave without waiting for them.
os._exit(0)
