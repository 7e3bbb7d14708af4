"""The output decision (pipeline.io.target): one OutputTarget, every input stream's fate with its reason."""

from __future__ import annotations

import json

import pytest
from support.formats_synth import make_extras_clip
from support.media import make_multi_audio

from filmrt.cli.main import main
from filmrt.errors import FilmrtError
from filmrt.pipeline.io.decode import PyAVSource
from filmrt.pipeline.io.probe import probe
from filmrt.pipeline.io.streams import refusal
from filmrt.pipeline.io.target import COPIED, DROPPED, REENCODED, plan_target
from filmrt.pipeline.options import EncodeOptions

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def two_audio(tmp_path_factory):
    return make_multi_audio(tmp_path_factory.mktemp("t") / "a.mkv", ("aac", "ac3"), frames=5)


def _plan(src, dst, **kw):
    """The target, and the indices of the PyAV streams it copies (read while the input is open)."""
    enc = EncodeOptions(**{k: kw.pop(k) for k in list(kw) if k in ("codec", "drop_stream", "format")})
    source = PyAVSource(src)
    try:
        t = plan_target(str(dst), enc, source.info, source.streams, source.stream.index, **kw)
        return t, [s.index for s in t.copy]
    finally:
        source.close()


def _fates(target):
    return [(f.index, f.kind, f.fate, f.output_index) for f in target.fates]


def test_streams_are_copied_with_their_output_index(two_audio, tmp_path):
    t, copy = _plan(two_audio, tmp_path / "o.mkv")
    assert (t.format, t.streamed, t.video.codec) == ("matroska", False, "libx264")
    assert _fates(t) == [(0, "video", REENCODED, 0), (1, "audio", COPIED, 1), (2, "audio", COPIED, 2)]
    assert t.output_index() == {0: 0, 1: 1, 2: 2} and copy == [1, 2]
    d = t.to_dict()
    assert d["container"] == "matroska" and d["encoder"] == "libx264" and d["streams"][1]["reason"] == "remuxed"
    json.dumps(d)  # the report stores it as it is


def test_dropped_streams_say_why_and_renumber_the_rest(two_audio, tmp_path):
    t, copy = _plan(two_audio, tmp_path / "o.mkv", drop_stream="1")
    assert _fates(t) == [(0, "video", REENCODED, 0), (1, "audio", DROPPED, None), (2, "audio", COPIED, 1)]
    assert t.dropped[0].reason == "left out (--drop-stream)" and copy == [2]
    t, copy = _plan(two_audio, tmp_path / "o.mkv", audio="drop")
    assert [f.fate for f in t.fates] == [REENCODED, DROPPED, DROPPED] and "--audio drop" in t.dropped[0].reason
    assert copy == []


def test_stretched_audio_is_reencoded_after_the_copied_streams(two_audio, tmp_path):
    t, copy = _plan(two_audio, tmp_path / "o.mkv", audio="stretch")
    assert _fates(t) == [(0, "video", REENCODED, 0), (1, "audio", REENCODED, 1), (2, "audio", REENCODED, 2)]
    assert "--audio stretch" in t.fates[1].reason and copy == []


def test_a_stream_the_container_refuses_is_an_error_naming_it(two_audio, tmp_path):
    with pytest.raises(FilmrtError, match=r"webm container cannot hold stream #1 audio aac.*--drop-stream 1,2"):
        _plan(two_audio, tmp_path / "o.webm")
    t, _ = _plan(two_audio, tmp_path / "o.webm", drop_stream="a")
    assert t.video.codec == "libvpx-vp9" and t.notes and [f.fate for f in t.fates] == [REENCODED, DROPPED, DROPPED]


def test_one_answer_for_can_this_container_hold_this_codec():
    assert refusal("mov", "prores_ks", {}) is None and refusal("mov", "dnxhd", {}) is None
    assert "does not support" in refusal("mp4", "prores_ks", {})
    assert refusal("mpegts", "h264_nvenc", {}) is None  # asked as its software twin (no GPU needed)


def test_the_report_holds_the_target_and_matches_the_file(tmp_path):
    """Subtitles copied, the attachment kept (Matroska): the output indices are the file's."""
    src = make_extras_clip(tmp_path / "x.mkv", frames=6)
    out, js = tmp_path / "o.mkv", tmp_path / "r.json"
    assert main(["convert", src, str(out), "--fps", "x2", "--model", "blend", "--quiet", "--preset", "ultrafast",
                 "--json", str(js)]) == 0
    rep = json.loads(js.read_text())["output"]
    kinds = [s.type for s in probe(out, count=False, first_frame=False).streams]
    for f in rep["streams"]:
        assert f["output_index"] is not None and kinds[f["output_index"]] == f["kind"], f
    assert [f["fate"] for f in rep["streams"]] == [REENCODED, COPIED, COPIED]
