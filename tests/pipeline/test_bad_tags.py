"""Tags whose bytes are not UTF-8 (a damaged or a Latin-1 file): PyAV 18 raises UnicodeDecodeError
while opening such a file unless told otherwise, which crashed convert with a traceback (exit 1;
found by `make fuzz`). Every reader now drops the undecodable bytes, as the probe already did."""

from __future__ import annotations

import av
from support.synth import make_clip

from filmrt.cli.main import main


def test_a_stream_title_in_latin_1_is_converted(tmp_path, capsys):
    clean = make_clip(tmp_path / "clean.mkv", width=64, height=48, frames=6, audio=True)
    src = tmp_path / "latin1.mkv"
    with av.open(clean) as i, av.open(str(src), "w", metadata_errors="surrogateescape") as o:
        outs = {}
        for s in i.streams:
            outs[s.index] = o.add_stream_from_template(s)
        outs[0].metadata["title"] = "Caf\udce9 cr\udce8me"  # the bytes 0xE9, 0xE8: Latin-1, not UTF-8
        for p in i.demux():
            if p.dts is not None:
                p.stream = outs[p.stream.index]
                o.mux(p)
    try:  # the case: a plain open fails on it
        av.open(str(src)).close()
        raise AssertionError("the title decoded as UTF-8: not the case under test")
    except UnicodeDecodeError:
        pass
    out = tmp_path / "out.mkv"
    assert main(["convert", str(src), str(out), "--fps", "50", "--model", "blend", "--quiet"]) == 0, \
        capsys.readouterr().err
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12 and len(c.streams.audio) == 1
