"""filmrt.sizes: the one size parser (WxH = width x height everywhere)."""

import pytest

from filmrt.errors import FilmrtError
from filmrt.sizes import MAX_SIDE, NAMED_SIZES, Size, parse_size, parse_sizes


@pytest.mark.parametrize("text, wh", [
    ("1280x720", (1280, 720)), (" 1920X1080 ", (1920, 1080)), ("256", (256, 256)),
    ("720p", (1280, 720)), ("4K", (3840, 2160)), ("dci4k", (4096, 2160)), ("1x1", (1, 1)),
])
def test_spellings(text, wh):
    s = parse_size(text)
    assert (s.width, s.height) == wh
    assert s.hw == (wh[1], wh[0])  # tensors are (..., H, W)


def test_label_keeps_a_name_and_normalises_wxh():
    assert str(parse_size("720p")) == "720p"
    assert str(parse_size("1920X1080")) == "1920x1080"
    assert str(Size(640, 360)) == "640x360"


def test_every_named_size_is_landscape_or_square_and_parses_to_itself():
    for name, (w, h) in NAMED_SIZES.items():
        assert w >= h > 0
        assert parse_size(name.upper())[:2] == (w, h)


@pytest.mark.parametrize("bad", ["", "x", "1280x", "x720", "1280*720", "12.5x10", "-5x5", "0x720", "720x0",
                                 "abc", "1280x720x3", f"{MAX_SIDE + 1}x10", f"10x{MAX_SIDE + 1}"])
def test_bad_sizes_are_one_line_errors(bad):
    with pytest.raises(FilmrtError) as e:
        parse_size(bad)
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def test_largest_side_accepted():
    assert parse_size(f"{MAX_SIDE}x{MAX_SIDE}").width == MAX_SIDE


def test_lists():
    assert [tuple(s[:2]) for s in parse_sizes("1080p, 1280x720,,256")] == [(1920, 1080), (1280, 720), (256, 256)]
    with pytest.raises(FilmrtError):
        parse_sizes(" , ")
    with pytest.raises(FilmrtError):
        parse_sizes("720p,huge")
