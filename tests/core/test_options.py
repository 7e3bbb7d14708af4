"""filmrt.options: RuntimeOptions (validated once), field metadata, and the composed option groups.

The composed groups (ConvertOptions = time fields + RuntimeOptions + EncodeOptions, with batch's own
BatchOptions beside them) are flattened by name in two places: the CLI (one flag per field) and
batch's resume logic (settings by field name). A name that two groups share would make one of them
unreachable, so the test walks every group and fails on a collision.
"""

from __future__ import annotations

import dataclasses

import pytest

from filmrt.errors import FilmrtError
from filmrt.options import BACKENDS, EXTRAS, RuntimeOptions, changes_output, check_precision, opt
from filmrt.pipeline.batch.options import BatchOptions
from filmrt.pipeline.options import ConvertOptions, EncodeOptions
from filmrt.rates import canonical_spelling


def _leaves(cls, path=()) -> list[tuple[str, tuple[str, ...], dataclasses.Field]]:
    """(name, path, field) of every leaf field of dataclass ``cls``, nested option groups walked."""
    out = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            out += _leaves(type(default), path + (f.name,))
        else:
            out.append((f.name, path, f))
    return out


def test_composed_option_groups_never_share_a_field_name():
    leaves = _leaves(ConvertOptions) + [(n, ("batch",), f) for n, _, f in _leaves(BatchOptions)]
    seen: dict[str, tuple[str, ...]] = {}
    for name, path, _ in leaves:
        assert name not in seen, f"field {name!r} is in {'.'.join(seen[name]) or 'convert'} and {'.'.join(path)}"
        seen[name] = path
    assert {"model", "codec", "fps", "workers"} <= set(seen)  # the walk reached every group


def test_generated_flags_never_collide():
    flags: dict[str, str] = {}
    for name, _, f in _leaves(ConvertOptions) + _leaves(BatchOptions):
        if not f.metadata or not f.metadata.get("cli", True):
            continue
        flag = f.metadata.get("flag") or "--" + name.replace("_", "-")
        assert flag not in flags, f"{flag} is generated for {flags[flag]} and {name}"
        flags[flag] = name


def test_every_cli_field_says_whether_it_changes_the_output():
    execution = {n for n, _, f in _leaves(ConvertOptions) if not changes_output(f)}
    # how a result is computed, not what it is: batch does not redo a library for these
    assert {"device", "backend", "precision", "max_batch", "decoder", "queue_size"} <= execution
    assert not execution & {"model", "weights", "fps", "mode", "codec", "crf", "ss", "t", "slowmo", "dedup"}
    for name, _, f in _leaves(ConvertOptions):
        if f.metadata:
            assert "output" in f.metadata, f"{name} has opt() metadata without 'output'"


def test_opt_defaults_and_changes_output_on_plain_fields():
    md = opt("help text")
    assert md["cli"] is True and md["output"] is True and md["flag"] is None
    plain = dataclasses.field(default=1)
    assert changes_output(plain)  # unstated: it counts (a new option redoes work rather than hides a change)


def test_runtime_options_validate_once():
    r = RuntimeOptions(model="blend", max_batch="8", threads=2.0)
    assert r.max_batch == 8 and r.threads == 2
    for bad in (dict(backend="tensorflow"), dict(precision="fp8"), dict(max_batch=0), dict(max_batch=2.5),
                dict(threads=-1), dict(device="  ")):
        with pytest.raises(FilmrtError) as e:
            RuntimeOptions(**bad)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_backend_extras_belong_to_their_backends(extra):
    value = {"threads": 2, "flow_scale": 0.5}.get(extra, "x")
    for backend in BACKENDS:
        if backend in EXTRAS[extra]:
            assert RuntimeOptions(backend=backend, **{extra: value}).extras() == {extra: value}
        else:
            with pytest.raises(FilmrtError, match=f"--{extra.replace('_', '-')}"):
                RuntimeOptions(backend=backend, **{extra: value})
    assert RuntimeOptions(**{extra: value}).extras() == {extra: value}  # auto picks a backend that takes it


def test_precision_spelling_and_replace_and_dict():
    assert check_precision("auto") == "auto"
    with pytest.raises(FilmrtError):
        check_precision("FP16")
    r = RuntimeOptions(model="blend")
    assert r.replace(device="cuda").device == "cuda" and r.device == "cpu"
    assert r.to_dict()["model"] == "blend"


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EncodeOptions().crf = 3  # type: ignore[misc]


@pytest.mark.parametrize("text, canon", [
    ("x2", "x2"), ("2x", "x2"), ("X2", "x2"), ("x2.0", "x2"), ("5/2x", "x5/2"), ("x2.5", "x5/2"),
    ("50", "50"), ("59.94", "59.94"), ("60000/1001", "60000/1001"), ("junk", "junk"),
])
def test_canonical_spelling_of_a_rate(text, canon):
    assert canonical_spelling(text) == canon
