"""The weights' fingerprint that decides when an analysis is reused: a hash of every weight file's bytes."""

import hashlib
import json

from analyze.core import spec as spec_module
from analyze.core.spec import ModelSpec, fingerprint


def test_fingerprint_is_the_hash_of_every_weight_files_bytes_in_order(tmp_path):
    """The files are hashed side by side on threads; the result must still be the one hash of the models' names
    and their files' sha256 in order, and change when one byte of one file does."""
    specs, expected = [], []
    for i, sizes in enumerate([[3_000_000], [5, 2_000_000], [1_000_000]]):  # the second model: two files
        folder = tmp_path / f"model_{i}"
        folder.mkdir()
        digests = []
        for j, size in enumerate(sizes):
            data = bytes((i * 7 + j * 3 + k) % 251 for k in range(size))
            (folder / f"part-{j}.safetensors").write_bytes(data)
            digests.append(hashlib.sha256(data).hexdigest())
        specs.append(ModelSpec(f"m{i:02d}", str(folder), "toy"))
        expected.append([f"m{i:02d}", *digests])
    spec_module._HASHED.clear()
    assert fingerprint(specs) == hashlib.sha256(json.dumps(expected).encode()).hexdigest()[:16]
    path = tmp_path / "model_1" / "part-1.safetensors"
    data = bytearray(path.read_bytes())
    data[1_000_000] ^= 1
    path.write_bytes(bytes(data))
    spec_module._HASHED.clear()
    assert fingerprint(specs) != hashlib.sha256(json.dumps(expected).encode()).hexdigest()[:16]
