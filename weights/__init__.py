"""Weights shipped with filmrt (safetensors + SOURCE notes); see :mod:`filmrt.weights`.

:data:`RELEASED` is the one place the released models' hashes are written: a weights file whose
metadata names one of these models must hold exactly these tensors (``filmrt.weights.verify``).
``sha256`` is the shipped file's (as in ``SOURCE.md``); ``tensors_sha256`` is the digest of its
tensors (names, dtypes, shapes, bytes: :func:`filmrt.weights.tensors_digest`), which a fresh
conversion of the same original also has (safetensors writes metadata keys in hash order, so its
file hash may differ). ``tests/core/test_weights_checks.py`` checks both against the shipped file.
"""

RELEASED = {
    "rife-4.25": {
        "file": "rife-4.25.safetensors",
        "sha256": "3fd74cdb785269721208450be175514d3bf5072e468c29ef4a5e3d54b8062454",
        "tensors_sha256": "dfea41c92dc8e482ddafec00461efb831176fcc99e060d6d4e38ffa4928af4a4",
    },
}
