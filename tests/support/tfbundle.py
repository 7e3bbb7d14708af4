"""A tiny TensorFlow tensor-bundle *writer* for tests (the reader is filmrt.tfcheckpoint).

Writes ``PREFIX.index`` (a LevelDB-format table: prefix-compressed data blocks with restart points,
an index block, an empty metaindex block, the footer; optionally Snappy-"compressed" blocks made of
literals only) and ``PREFIX.data-0000k-of-0000n`` shards, the way TensorFlow lays them out, so the
importer can be tested on checkpoints of any shape (e.g. the full 34.4M-parameter FILM) without
TensorFlow.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from filmrt.tfcheckpoint import TABLE_MAGIC, crc32c, mask_crc

_DT = {np.dtype("float32"): 1, np.dtype("float64"): 2, np.dtype("int32"): 3, np.dtype("float16"): 19,
       np.dtype("int64"): 9}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num: int, val: int) -> bytes:
    return varint(num << 3) + varint(val)


def field_bytes(num: int, val: bytes) -> bytes:
    return varint((num << 3) | 2) + varint(len(val)) + val


def field_fixed32(num: int, val: int) -> bytes:
    return varint((num << 3) | 5) + struct.pack("<I", val)


def snappy_literals(data: bytes) -> bytes:
    """A valid raw Snappy stream holding ``data`` as literals (no real compression)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i : i + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        else:
            out.append(61 << 2)
            out += struct.pack("<H", n)
        out += chunk
    return bytes(out)


def _block(entries: list[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    out, restarts, last = bytearray(), [], b""
    for i, (k, v) in enumerate(entries):
        if i % restart_interval == 0:
            restarts.append(len(out))
            shared = 0
        else:
            shared = 0
            while shared < min(len(k), len(last)) and k[shared] == last[shared]:
                shared += 1
        out += varint(shared) + varint(len(k) - shared) + varint(len(v)) + k[shared:] + v
        last = k
    if not restarts:
        restarts = [0]
    for r in restarts:
        out += struct.pack("<I", r)
    out += struct.pack("<I", len(restarts))
    return bytes(out)


def write_table(path: Path, items: list[tuple[bytes, bytes]], block_size: int = 4096, snappy: bool = False) -> None:
    items = sorted(items)
    f = bytearray()

    def put(body: bytes) -> bytes:
        ctype = 0
        if snappy:
            body, ctype = snappy_literals(body), 1
        handle = varint(len(f)) + varint(len(body))
        trailer = bytes([ctype])
        f.extend(body + trailer + struct.pack("<I", mask_crc(crc32c(body + trailer))))
        return handle

    index, cur, size = [], [], 0
    for k, v in items:
        cur.append((k, v))
        size += len(k) + len(v) + 8
        if size >= block_size:
            index.append((cur[-1][0], put(_block(cur))))
            cur, size = [], 0
    if cur:
        index.append((cur[-1][0], put(_block(cur))))
    meta = put(_block([]))
    idx = put(_block(index, restart_interval=1))
    footer = meta + idx
    footer += b"\0" * (40 - len(footer)) + struct.pack("<Q", TABLE_MAGIC)
    f.extend(footer)
    path.write_bytes(bytes(f))


def write_bundle(prefix: str | Path, tensors: dict[str, np.ndarray], num_shards: int = 1,
                 snappy: bool = False, with_object_graph: bool = True, block_size: int = 4096,
                 checksums: bool = True) -> Path:
    """Write ``tensors`` (name -> array, C order) as a TF tensor bundle at ``prefix``.

    ``checksums=False`` leaves out the per-tensor CRC32C (TF always writes it; the reader then
    cannot verify) to keep tests on large synthetic checkpoints fast."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    shards = [bytearray() for _ in range(num_shards)]
    items = [(b"", field_varint(1, num_shards) + field_bytes(3, field_varint(1, 1)))]
    all_t = dict(tensors)
    for i, (name, arr) in enumerate(all_t.items()):
        arr = np.ascontiguousarray(arr)
        raw = arr.tobytes()
        s = i % num_shards
        shape = b"".join(field_bytes(2, field_varint(1, d) if d else b"") for d in arr.shape)
        entry = field_varint(1, _DT[arr.dtype]) + field_bytes(2, shape)
        if s:
            entry += field_varint(3, s)
        if len(shards[s]):
            entry += field_varint(4, len(shards[s]))
        entry += field_varint(5, len(raw))
        if checksums:
            entry += field_fixed32(6, mask_crc(crc32c(raw)))
        shards[s] += raw
        items.append((name.encode(), entry))
    if with_object_graph:  # TF's own bookkeeping entry: a DT_STRING scalar the reader must skip
        s = 0
        blob = b"\x05hello"
        items.append((b"_CHECKPOINTABLE_OBJECT_GRAPH",
                      field_varint(1, 7) + field_bytes(2, b"") + field_varint(4, len(shards[s]))
                      + field_varint(5, len(blob))))
        shards[s] += blob
    for s, data in enumerate(shards):
        Path(f"{prefix}.data-{s:05d}-of-{num_shards:05d}").write_bytes(bytes(data))
    write_table(Path(f"{prefix}.index"), items, block_size=block_size, snappy=snappy)
    return prefix
