"""Example script for configs/python-numpy.toml: pixels below a level become 0, in place."""
import logging

log = logging.getLogger("clip")
level = 0


def setup(args):
    global level
    level = args["level"]
    log.info("clipping below %d", level)


def process(frame, meta):
    # `frame` is the frame's own memory (a 2-D numpy array): edits are the output.
    frame[frame < level] = 0
    meta["clip_level"] = level
