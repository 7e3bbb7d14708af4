"""Reading a frame's side data (HDR metadata, captions, display matrix) must not keep the frame alive.

PyAV's ``frame.side_data`` makes a reference cycle (frame -> container -> frame): every frame read
that way, picture buffers and all, then waits for Python's full garbage collection, which runs
rarely in a process holding torch: a live stream or a long conversion grew by megabytes a second.
With the collector off, a frame that was read and dropped must be gone at once."""

from __future__ import annotations

import gc

import av
import torch
from support.synth import make_clip

from filmrt.pipeline.io.captions import a53_of
from filmrt.pipeline.io.decode import PyAVSource, open_input
from filmrt.pipeline.io.hdr import display_matrix_of, read_side_data
from filmrt.pipeline.io.source import DecodeRequest


def _frames_alive() -> int:
    return sum(isinstance(o, av.VideoFrame) for o in gc.get_objects())


def test_reading_side_data_leaves_no_frame_behind(tmp_path):
    src = make_clip(tmp_path / "a.mp4", width=64, height=48, frames=12, rotation=90)
    gc.collect()
    gc.disable()
    try:
        before = _frames_alive()
        with av.open(src) as c:
            for f in c.decode(video=0):
                read_side_data(f)
                a53_of(f)
                assert display_matrix_of(f) is not None  # the rotation's matrix is really read
                del f
        assert _frames_alive() == before
    finally:
        gc.enable()


def test_a_decoded_stream_leaves_no_frame_behind(tmp_path):
    src = make_clip(tmp_path / "a.mp4", width=64, height=48, frames=30)
    gc.collect()
    gc.disable()
    try:
        before = _frames_alive()
        for planes in (False, True):
            source = PyAVSource(open_input(src), DecodeRequest(planes=planes, streams=frozenset()),
                                device=torch.device("cpu"), threads=1)
            assert sum(1 for _ in source.frames()) == 30
            source.close()
        assert _frames_alive() - before <= 2  # what the decoder itself may still hold
    finally:
        gc.enable()
