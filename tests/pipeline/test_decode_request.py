"""What convert asks of the decoder is one DecodeRequest, handed to the source when it is opened."""

from __future__ import annotations

from fractions import Fraction

import pytest
from support.media import make_multi_audio

from filmrt.errors import FilmrtError
from filmrt.options import RuntimeOptions
from filmrt.pipeline import convert as convert_mod
from filmrt.pipeline import prepare as prepare_mod
from filmrt.pipeline.io.captions import CaptionPacer
from filmrt.pipeline.io.decode import DecodeRequest, PyAVSource, open_input
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.pipeline.time.cadence.fieldops import DecodedFilter

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_multi_audio(tmp_path_factory.mktemp("r") / "a.mkv", ("aac", "ac3"), frames=10)


def test_the_request_reaches_the_source(clip):
    req = DecodeRequest(ss=0.12, t=0.2, keep_alpha=True, captions=True, deinterlace="bwdif", field_parity="bff",
                        streams=frozenset({2}))
    src = PyAVSource(clip, req)
    try:
        assert src.request is req and src.range_start == Fraction(3, 25) and src.range_end == Fraction(8, 25)
        assert src.keep_alpha and isinstance(src.captions, CaptionPacer)
        assert isinstance(src.frame_filter, DecodedFilter) and src.frame_filter.parity == "bff"
        assert [s.index for s in src.copy_streams] == [2] and len(src.streams) == 3
        assert src.info.frames == 5  # the range's, not the file's
    finally:
        src.close()
    plain = PyAVSource(clip)  # the default request: everything, no filter, no alpha, no captions
    try:
        assert plain.frame_filter is None and plain.captions is None and not plain.keep_alpha
        assert [s.index for s in plain.copy_streams] == [1, 2] and plain.info.frames == 10
    finally:
        plain.close()


def test_a_request_is_checked_when_made():
    with pytest.raises(FilmrtError, match="--ss"):
        DecodeRequest(ss=-1)
    with pytest.raises(FilmrtError, match="--t"):
        DecodeRequest(t=0)
    with pytest.raises(FilmrtError, match="deinterlace"):
        DecodeRequest(deinterlace="none")


def test_an_opened_input_is_decoded_without_reopening(clip):
    inp = open_input(clip)
    src = PyAVSource(inp, DecodeRequest(t=0.2))
    try:
        assert src.container is inp.container and len(list(src.frames())) == 5
    finally:
        src.close()


def test_convert_hands_its_decisions_to_the_decoder(clip, tmp_path, monkeypatch):
    seen = []

    class Recording(PyAVSource):
        def __init__(self, src, request=None, **kw):
            seen.append(request)
            super().__init__(src, request, **kw)

    monkeypatch.setattr(prepare_mod, "PyAVSource", Recording)  # open_source builds it
    opts = ConvertOptions(fps="50", ss=0.08, runtime=RuntimeOptions(model="blend"),
                          encode=EncodeOptions(preset="ultrafast", drop_stream="1"))
    res = convert_mod.convert(clip, tmp_path / "o.mkv", opts)
    (req,) = seen
    assert (req.ss, req.t, req.keep_alpha, req.deinterlace) == (0.08, None, False, "off")
    assert req.streams == frozenset({2}) and req.captions  # libx264 carries A/53 captions
    assert res.streams == ["#2 audio ac3"] and res.frames_in == 8


def test_the_source_base_class_says_what_a_decoder_does_not_know():
    from filmrt.pipeline.io.extras import copy_extras
    from filmrt.pipeline.io.source import Source

    s = Source(DecodeRequest(keep_alpha=True))
    assert s.keep_alpha and s.container is None and s.stream is None and s.captions is None
    assert (s.problems, s.corrupt_frames, s.frames_decoded, s.timestamps_repaired) == ([], 0, 0, 0)
    assert not s.filters_fields and s.range_end is None and s.copy_streams == []
    assert copy_extras(s, None, pytest.fail) == {"chapters": 0, "attachments": 0, "dispositions": 0}
    with pytest.raises(NotImplementedError):
        next(iter(s.frames()))
