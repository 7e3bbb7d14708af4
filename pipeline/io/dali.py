"""Optional NVDEC decoding through NVIDIA DALI: frames decoded on the GPU and kept there.

Used by ``filmrt convert --decoder dali`` (or ``auto`` with ``--device cuda`` when ``nvidia-dali``
is installed). It implements :class:`filmrt.pipeline.io.decode.Source`, like ``PyAVSource``.

How: ``fn.readers.video(device="gpu")`` decodes sequences of frames with NVDEC as (F, H, W, 3)
uint8 RGB on the GPU, with per-frame timestamps (``enable_timestamps``); each sequence is copied
into a PyTorch CUDA tensor with ``nvidia.dali.plugin.pytorch.feed_ndarray`` (no trip through host
memory) and split into (3, H, W) float frames in [0, 1]. Stream facts (rate, time base, tags) and
the packets of the streams that are copied (audio, subtitles) still come from PyAV.

Limits (DALI's): constant-frame-rate input only, no stdin, H.264/HEVC/VP8/VP9/AV1/MPEG-4 only,
and the YUV -> RGB conversion is DALI's own (NVDEC's), not filmrt's stated one, so the
copied-frame round-trip guarantee of the PyAV path is not claimed here. ``--ss``/``--t`` are
applied by skipping frames (DALI's reader cannot start at a time).

NOT TESTED: written against DALI's documented API (``nvidia.dali.fn.readers.video``,
``pipeline_def``, ``plugin.pytorch.feed_ndarray``); no machine this was developed on has DALI or
a GPU with NVDEC. The import is guarded: without DALI nothing here is loaded.
"""

from __future__ import annotations

from fractions import Fraction

import torch

from filmrt.errors import FilmrtError
from filmrt.pipeline.io.decode import PyAVInput, PyAVSource
from filmrt.pipeline.io.planes import make_thumb
from filmrt.pipeline.io.source import DecodedFrame, DecodeRequest, Source

SEQUENCE = 16


def available(device: torch.device) -> tuple[bool, str]:
    if device.type != "cuda":
        return False, "DALI decoding needs --device cuda"
    if not torch.cuda.is_available():
        return False, "no CUDA GPU visible to PyTorch"
    try:
        import nvidia.dali  # noqa: F401
        import nvidia.dali.plugin.pytorch  # noqa: F401
    except ImportError:
        return False, "nvidia-dali is not installed (pip install 'filmrt[dali]')"
    return True, ""


class DaliSource(Source):
    """Decodes ``src`` (a path, or a :class:`PyAVInput` of a file) as ``request`` asks: its range
    and streams (alpha, captions and field filters are PyAV's only)."""

    name = "dali"
    filters_fields = False

    def __init__(self, src, request: DecodeRequest | None = None, *, device: torch.device,
                 sequence_length: int = SEQUENCE):
        path = src.path if isinstance(src, PyAVInput) else (None if src == "-" else str(src))
        if path is None:
            raise FilmrtError("the DALI decoder reads files, not stdin: use --decoder pyav")
        from nvidia.dali import fn, pipeline_def, types

        super().__init__(request)
        # PyAV for the stream facts and the copied streams (it does not decode video here)
        self._meta = PyAVSource(src, self.request, device="cpu")
        self.container = self._meta.container
        self.info = self._meta.info
        self.stream, self.streams = self._meta.stream, self._meta.streams
        self.copy_streams = self._meta.copy_streams
        self.container_metadata = self._meta.container_metadata
        self.range_start, self.range_end = self._meta.range_start, self._meta.range_end
        self.src_name = self._meta.src_name
        first = next(s for s in self.container.streams if s.type == "video")
        if first is not self._meta.stream:  # DALI's reader decodes the first video stream only
            self._meta.close()
            raise FilmrtError(f"{self.src_name}: the main video is stream #{self._meta.stream.index}, not the first "
                              "video stream, which is all DALI decodes: use --decoder pyav")
        self.device = device  # DALI reports no corrupt frames: corrupt_frames stays 0
        self.seq = int(sequence_length)

        @pipeline_def(batch_size=1, num_threads=2, device_id=device.index or 0, prefetch_queue_depth=2)
        def _pipe():
            video, ts = fn.readers.video(
                device="gpu",
                filenames=[path],
                sequence_length=self.seq,
                step=self.seq,
                stride=1,
                pad_sequences=True,
                enable_timestamps=True,
                random_shuffle=False,
                image_type=types.RGB,
                dtype=types.UINT8,
                name="reader",
            )
            return video, ts

        try:
            self.pipe = _pipe()
            self.pipe.build()
        except Exception as e:  # noqa: BLE001 - DALI raises RuntimeError with a long message
            self._meta.close()
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise FilmrtError(f"DALI cannot decode {path}: {first} (try --decoder pyav)") from None

    def _packets(self):
        if not self.copy_streams:
            return iter(())
        return self.container.demux(self.copy_streams)

    def frames(self, on_packet=None, stop=None):
        from nvidia.dali.plugin.pytorch import feed_ndarray

        tb = self.info.time_base
        start, end = self.range_start, self.range_end
        packets = self._packets()
        pending_pkt = None
        index = 0
        prev = None
        sequences = self.pipe.epoch_size("reader")
        for _ in range(sequences):
            if stop is not None and stop.is_set():
                return
            video, stamps = self.pipe.run()
            seq = video.as_tensor()
            buf = torch.empty(tuple(seq.shape()), dtype=torch.uint8, device=self.device)
            feed_ndarray(seq, buf, cuda_stream=torch.cuda.current_stream(self.device))
            ts_list = stamps.as_cpu().as_array().reshape(-1).tolist()
            for k in range(buf.shape[1]):
                sec = ts_list[k] if k < len(ts_list) else -1
                if sec < 0:
                    continue  # padding at the end of the last sequence
                ts = Fraction(round(Fraction(sec) / tb)) * tb
                if ts < start or (prev is not None and ts <= prev):
                    continue
                if end is not None and ts >= end:
                    return
                # copied streams: forward their packets up to this frame's time
                while on_packet is not None:
                    if pending_pkt is None:
                        pending_pkt = next(packets, None)
                        if pending_pkt is None:
                            break
                    if pending_pkt.dts is None and pending_pkt.pts is None:
                        pending_pkt = None
                        continue
                    p_ts = (pending_pkt.pts if pending_pkt.pts is not None else pending_pkt.dts)
                    if p_ts * Fraction(pending_pkt.time_base) > ts:
                        break
                    if p_ts * Fraction(pending_pkt.time_base) >= start:
                        on_packet(pending_pkt)
                    pending_pkt = None
                rgb = buf[0, k].permute(2, 0, 1).float().div_(255.0)
                yield DecodedFrame(index, ts, rgb, make_thumb(rgb), None)
                index += 1
                self.frames_decoded += 1
                prev = ts
        if on_packet is not None:
            if pending_pkt is not None:
                on_packet(pending_pkt)
            for p in packets:
                if p.dts is None and p.pts is None:
                    continue
                p_ts = (p.pts if p.pts is not None else p.dts) * Fraction(p.time_base)
                if end is not None and p_ts >= end:
                    continue
                on_packet(p)

    def close(self) -> None:
        self._meta.close()
