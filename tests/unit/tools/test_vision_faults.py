"""The endpoint's fault switches: a bad update is refused whole and changes nothing."""
import pytest

from tools.vision_faults import FAULT_DEFAULTS, checked
from tools.vision_service import VisionService


@pytest.mark.parametrize("update,message", [
    ({"drop_every": "x"}, "drop_every must be a whole number"),
    ({"drop_every": 1.5}, "drop_every must be a whole number"),
    ({"drop_every": True}, "drop_every must be a whole number"),
    ({"drop_every": -1}, "drop_every must be from 0"),
    ({"drop_every": 0, "quota_per_sec": "abc"}, "quota_per_sec must be a number"),
    ({"quota_per_sec": float("nan")}, "quota_per_sec must be a number"),
    ({"delay_secs": 1e9}, "delay_secs must be from 0 to 120"),
    ({"slow_secs": -1}, "slow_secs must be from 0 to 120"),
    ({"quota_retry_after": "false"}, "quota_retry_after must be true or false"),
    ({"image_errors": []}, "image_errors must be an object"),
    ({"image_errors": {"k": "Bad image data."}}, "image_errors must be an object"),
    ({"image_errors": {"k": {"code": "3"}}}, "image_errors must be an object"),
    ({"image_errors": {"k": {"code": 3, "message": "m", "extra": 1}}}, "image_errors must be an object"),
    ({"image_errors": {"k" * 5000: {"code": 3}}}, "image_errors must be an object"),
    ({"no_such_switch": 1}, "unknown fault switch 'no_such_switch'"),
    ([1, 2], "a JSON object"),
])
def test_bad_update_is_refused__each_kind(update, message):
    with pytest.raises(ValueError, match=message):
        checked(update, FAULT_DEFAULTS)


def test_bad_update_changes_nothing__good_switch_beside_a_bad_one():
    svc = VisionService(None, (), 1, fixed_labels=True, faults={"quota_per_sec": 2.0})
    before, quota = svc.stats()["faults"], svc.quota
    with pytest.raises(ValueError):
        svc.set_faults({"drop_every": 3, "quota_per_sec": 5.0, "image_errors": []})
    assert svc.stats()["faults"] == before and svc.quota is quota


def test_reset_goes_back_to_the_starting_switches__after_updates():
    svc = VisionService(None, (), 1, fixed_labels=True, faults={"error_5xx_every": 4})
    svc.set_faults({"drop_every": 2, "error_5xx_every": 0, "image_errors": {"k": {"code": 3, "message": "m"}}})
    svc.next_call()
    svc.reset()
    assert svc.stats() == {"calls": 0, "log": [], "faults": {**FAULT_DEFAULTS, "error_5xx_every": 4}}


def test_numbers_are_kept_as_their_switch_type__int_for_a_float_switch():
    assert checked({"quota_per_sec": 2, "slow_secs": 0}, FAULT_DEFAULTS)["quota_per_sec"] == 2.0
    assert isinstance(checked({"quota_per_sec": 2}, FAULT_DEFAULTS)["quota_per_sec"], float)
