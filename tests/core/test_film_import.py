"""``filmrt weights import``: the official SavedModel layout -> safetensors, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.tfbundle import write_bundle

import filmrt
from filmrt import weights
from filmrt.cli.main import main
from filmrt.models import default_model_name
from filmrt.models.film import PAPER_CONFIG, checkpoint_layout

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A private user weights directory (installs here never leak into other tests)."""
    d = tmp_path / "user-weights"
    monkeypatch.setenv("FILMRT_WEIGHTS_DIR", str(d))
    return d


@pytest.fixture
def fx(shared):
    return shared / "fixtures" / "film"


def _no_files(d) -> bool:
    return not d.exists() or not any(d.iterdir())


def test_import_installs_and_load_model_finds_it(fx, user_dir, capsys):
    rc = main(["weights", "import", str(fx / "film_net_small_saved_model"),
               "--config", str(fx / "film_net_small_config.json")])
    assert rc == 0
    path = user_dir / "film.safetensors"
    assert path.is_file()
    wi = weights.info(path)
    assert wi.model == "film" and wi.config["filters"] == 8 and "film_net_small_saved_model" in wi.metadata["source"]
    assert "50 tensors, 72,397 parameters" in capsys.readouterr().out

    assert default_model_name() == "film"
    model = filmrt.load_model("film")  # found in the user directory
    assert model.config["pyramid_levels"] == 4
    by_path = filmrt.load_model(str(path))
    for (k, a), (k2, b) in zip(model.state_dict().items(), by_path.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)

    # HWIO -> OIHW: compare one kernel with the checkpoint itself
    from filmrt.tfcheckpoint import TensorBundle

    b = TensorBundle(fx / "film_net_small_saved_model" / "variables" / "variables")
    k0 = b.read("variables/0/.ATTRIBUTES/VARIABLE_VALUE")  # cfeat_conv_0 kernel (3,3,3,8)
    assert torch.equal(model.extractor.convs[0].weight, torch.from_numpy(k0.transpose(3, 2, 0, 1)))

    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "film" in out and str(path) in out and "source:" in out


def test_missing_directory(tmp_path, user_dir, capsys):
    out = tmp_path / "o.safetensors"
    rc = main(["weights", "import", str(tmp_path / "nope"), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists() and _no_files(user_dir)
    assert err.startswith("filmrt: error:") and "not found" in err and len(err.splitlines()) == 1


def test_shape_mismatch_names_first_variable(fx, tmp_path, user_dir, capsys):
    # the small checkpoint against the paper config: variables/0 is (3,3,3,8), the paper wants (3,3,3,64)
    out = tmp_path / "o.safetensors"
    rc = main(["weights", "import", str(fx / "film_net_small_saved_model"), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists() and _no_files(tmp_path / "user-weights")
    assert len(err.splitlines()) == 1
    assert "variables/0/.ATTRIBUTES/VARIABLE_VALUE" in err and "[3, 3, 3, 8]" in err and "[3, 3, 3, 64]" in err


def test_non_film_checkpoint(tmp_path, user_dir, capsys):
    sm = tmp_path / "other_model"
    write_bundle(sm / "variables" / "variables", {
        "model/dense/kernel/.ATTRIBUTES/VARIABLE_VALUE": np.zeros((4, 4), "f4"),
        "model/dense/bias/.ATTRIBUTES/VARIABLE_VALUE": np.zeros((4,), "f4"),
    })
    out = tmp_path / "o.safetensors"
    rc = main(["weights", "import", str(sm), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists() and len(err.splitlines()) == 1
    assert "not a FILM" in err and "model/dense/bias" in err

    # FILM-like keys but too few of them: the first missing variable is named
    layout = checkpoint_layout(PAPER_CONFIG)
    few = tmp_path / "few"
    write_bundle(few / "variables" / "variables",
                 {v.checkpoint_key: np.zeros(v.shape, "f4") for v in layout[:3]})
    rc = main(["weights", "import", str(few), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists() and "variables/3/.ATTRIBUTES/VARIABLE_VALUE" in err and "missing" in err

    # and a directory without any checkpoint
    (tmp_path / "empty").mkdir()
    assert main(["weights", "import", str(tmp_path / "empty"), "-o", str(out)]) == 2
    assert "no TensorFlow checkpoint" in capsys.readouterr().err


def test_full_size_synthetic_savedmodel(tmp_path, user_dir, capsys):
    """A checkpoint with the released model's 82 variables (constant values, real shapes), split
    over two data shards (the released one has one: the fixture covers that case). No per-tensor
    checksums, to keep it quick (checksums are tested on the fixture and small bundles)."""
    layout = checkpoint_layout(PAPER_CONFIG)
    tensors = {v.checkpoint_key: np.full(v.shape, 0.01 * (v.index + 1), dtype="f4") for v in layout}
    sm = tmp_path / "saved_model"
    write_bundle(sm / "variables" / "variables", tensors, num_shards=2, checksums=False)
    out = tmp_path / "film_full.safetensors"
    rc = main(["weights", "import", str(sm), "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "82 tensors, 34,436,667 parameters" in capsys.readouterr().out
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:
        keys = list(f.keys())
        assert len(keys) == 82
        assert sum(int(np.prod(f.get_slice(k).get_shape())) for k in keys) == 34_436_667
        fusion_out = f.get_tensor("fusion.output.weight")  # variables/80, (1,1,64,3) -> (3,64,1,1)
        assert tuple(fusion_out.shape) == (3, 64, 1, 1) and float(fusion_out[0, 0, 0, 0]) == pytest.approx(0.81)
    assert weights.info(out).config == PAPER_CONFIG


def test_config_variable_list_must_agree(fx, tmp_path, user_dir, capsys):
    import json

    cfg = json.loads((fx / "film_net_small_config.json").read_text())
    cfg["variables"][5]["shape"] = [99]
    bad = tmp_path / "cfg.json"
    bad.write_text(json.dumps(cfg))
    out = tmp_path / "o.safetensors"
    rc = main(["weights", "import", str(fx / "film_net_small_saved_model"), "--config", str(bad), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists() and "variables/5/.ATTRIBUTES/VARIABLE_VALUE" in err
