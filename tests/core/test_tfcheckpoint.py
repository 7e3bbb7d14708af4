"""The TensorBundle reader (filmrt.tfcheckpoint): fixture, synthetic bundles, checksums, Snappy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.tfbundle import write_bundle

from filmrt import tfcheckpoint as tfc


def _python_crc32c(data: bytes) -> int:
    s = 0xFFFFFFFF
    for x in data:
        s ^= x
        for _ in range(8):
            s = (s >> 1) ^ (0x82F63B78 if s & 1 else 0)
    return s ^ 0xFFFFFFFF


def test_crc32c_matches_bitwise_definition():
    assert tfc.crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C
    rng = np.random.default_rng(1)
    for n in (1, 3, 4, 5, 63, 64, 65, 1000, 4097, 20011):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert tfc.crc32c(data) == _python_crc32c(data), n
    assert tfc.unmask_crc(tfc.mask_crc(0x12345678)) == 0x12345678


def test_snappy_decompress_literals_and_copies():
    # "abc" literal, then a 1-byte-offset copy (len 9, offset 3): overlapping copy
    stream = bytes([12, (2 << 2) | 0]) + b"abc" + bytes([((9 - 4) << 2) | 1, 3])
    assert tfc.snappy_decompress(stream) == b"abcabcabcabc"
    # 2-byte-offset copy
    stream = bytes([8, (3 << 2)]) + b"wxyz" + bytes([((4 - 1) << 2) | 2, 4, 0])
    assert tfc.snappy_decompress(stream) == b"wxyzwxyz"
    with pytest.raises(tfc.CheckpointError):
        tfc.snappy_decompress(bytes([5, 0]) + b"a")  # announces 5 bytes, holds 1


def test_reads_fixture_checkpoint(shared):
    fx = shared / "fixtures" / "film"
    cfg = json.loads((fx / "film_net_small_config.json").read_text())
    b = tfc.TensorBundle(fx / "film_net_small_saved_model" / "variables" / "variables")
    assert b.num_shards == 1
    for v in cfg["variables"]:
        e = b.entries[v["checkpoint_key"]]
        assert e.dtype_name == "float32" and list(e.shape) == v["shape"]
        a = b.read(v["checkpoint_key"])  # verifies the stored CRC32C
        assert a.shape == tuple(v["shape"]) and a.dtype == np.float32 and np.isfinite(a).all()
    assert "_CHECKPOINTABLE_OBJECT_GRAPH" in b  # TF bookkeeping, listed, not decoded


@pytest.mark.parametrize("shards,snappy", [(1, False), (3, True)])
def test_roundtrip_synthetic_bundle(tmp_path, shards, snappy):
    rng = np.random.default_rng(0)
    tensors = {f"variables/{i}/.ATTRIBUTES/VARIABLE_VALUE": rng.standard_normal((3, i + 1, 2)).astype("f4")
               for i in range(40)}
    tensors["scalar"] = np.array(3.5, dtype="f4")
    prefix = write_bundle(tmp_path / "variables" / "variables", tensors, num_shards=shards,
                          snappy=snappy, block_size=512)  # several data blocks
    b = tfc.TensorBundle(prefix)
    assert b.num_shards == shards
    for k, v in tensors.items():
        np.testing.assert_array_equal(b.read(k), v)


def test_damage_is_detected(tmp_path):
    t = {"w": np.arange(100, dtype="f4")}
    prefix = write_bundle(tmp_path / "v" / "variables", t)
    data = tmp_path / "v" / "variables.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[10] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(tfc.CheckpointError, match="checksum"):
        tfc.TensorBundle(prefix).read("w")
    index = tmp_path / "v" / "variables.index"
    index.write_bytes(b"x" * 100)
    with pytest.raises(tfc.CheckpointError, match="magic"):
        tfc.TensorBundle(prefix)
    with pytest.raises(tfc.CheckpointError, match="not found"):
        tfc.TensorBundle(tmp_path / "nothing" / "variables")


def test_tensorflow_cross_check(shared):
    tf = pytest.importorskip("tensorflow", reason="TensorFlow not installed (optional [tf] extra)")
    prefix = shared / "fixtures" / "film" / "film_net_small_saved_model" / "variables" / "variables"
    reader = tf.train.load_checkpoint(str(prefix))
    b = tfc.TensorBundle(prefix)
    for k in reader.get_variable_to_shape_map():
        if k.startswith("variables/"):
            np.testing.assert_array_equal(b.read(k), reader.get_tensor(k))
