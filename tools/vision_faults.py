"""The local Vision endpoint's fault switches: their defaults, types and ranges.

A switch reaches the endpoint as a command-line flag or through `POST /control/faults`.
Every update is checked whole before any of it is kept (`checked`): a value of the wrong
JSON type, out of its range, or an unknown name refuses the update and changes nothing,
so one bad call cannot leave the endpoint dropping or stalling every later one. The
waits are capped at 120 s, twice the Vision client's default deadline.
"""
from __future__ import annotations

import math
import re
from typing import Any

FAULT_DEFAULTS: dict[str, Any] = {
    "quota_per_sec": 0.0,        # token bucket: calls per second accepted; 0 = none
    "quota_burst": 0.0,          # the bucket's size in calls (0 = one second's worth)
    "quota_window_calls": 0,     # per-window quota ("1,800/min"): calls per window, all at once; 0 = none
    "quota_window_secs": 60.0,   # the window's length (tests scale it down)
    "quota_retry_after": True,   # 429s carry the wait (RetryInfo + Retry-After); False = a bare 429
    "error_5xx_every": 0,        # every Nth call answers 503
    "drop_every": 0,             # every Nth call: connection closed without an answer
    "slow_every": 0,             # every Nth call waits slow_secs before answering
    "slow_secs": 0.0,
    "delay_secs": 0.0,           # every call takes at least this long (a remote API's latency)
    "invalid_json_every": 0,     # every Nth call answers 200 with a body that is not JSON
    "image_errors": {},          # {sha256 of the bytes, or the image URI: {"code": 3, "message": "..."}}
    "recorded_answers": {},      # {sha256 of the bytes: a recorded AnnotateImageResponse}: replayed as the answer
}
MAX_WAIT_SECS = 120.0
MAX_EVERY = 1_000_000
MAX_IMAGE_ERRORS = 10_000
MAX_KEY_CHARS = 2048             # a URI key: gs:// + a 222-character bucket + a 1,024-byte name, with room
MAX_MESSAGE_CHARS = 1000
RANGES: dict[str, tuple[float, float]] = {
    "quota_per_sec": (0.0, 1e6), "quota_burst": (0.0, 1e6), "quota_window_calls": (0, 10**9),
    "quota_window_secs": (1e-3, 86400.0), "error_5xx_every": (0, MAX_EVERY), "drop_every": (0, MAX_EVERY),
    "slow_every": (0, MAX_EVERY), "slow_secs": (0.0, MAX_WAIT_SECS), "delay_secs": (0.0, MAX_WAIT_SECS),
    "invalid_json_every": (0, MAX_EVERY),
}


def checked(update, current: dict[str, Any]) -> dict[str, Any]:
    """`current` with `update` applied, every value checked; ValueError naming the first bad switch."""
    if not isinstance(update, dict):
        raise ValueError("fault switches come as a JSON object of switch names and values")
    out = dict(current)
    for name, value in update.items():
        if name not in FAULT_DEFAULTS:
            raise ValueError(f"unknown fault switch {str(name)[:60]!r}; known: {', '.join(FAULT_DEFAULTS)}")
        out[name] = _value(name, value)
    return out


def _value(name: str, value) -> Any:
    default = FAULT_DEFAULTS[name]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if name == "image_errors":
        return _image_errors(value)
    if name == "recorded_answers":
        return _recorded_answers(value)
    low, high = RANGES[name]
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be a whole number from {low:g} to {high:g}")
    elif not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}")
    if not low <= value <= high and not (value == 0 and name == "quota_window_secs"):
        raise ValueError(f"{name} must be from {low:g} to {high:g}")
    return type(default)(value)


def _image_errors(value) -> dict[str, dict]:
    rule = ('image_errors must be an object {"<sha256 or URI>": {"code": 1 to 16, "message": "..."}} of at most '
            f"{MAX_IMAGE_ERRORS:,} entries, keys up to {MAX_KEY_CHARS} and messages up to {MAX_MESSAGE_CHARS} "
            "characters")
    if not isinstance(value, dict) or len(value) > MAX_IMAGE_ERRORS:
        raise ValueError(rule)
    out = {}
    for key, error in value.items():
        if (len(key) > MAX_KEY_CHARS or not isinstance(error, dict) or set(error) - {"code", "message"}
                or not isinstance(error.get("code"), int) or isinstance(error.get("code"), bool)
                or not 1 <= error["code"] <= 16 or not isinstance(error.get("message", ""), str)
                or len(error.get("message", "")) > MAX_MESSAGE_CHARS):
            raise ValueError(rule)
        out[key] = {"code": error["code"], "message": error.get("message", "")}
    return out


def _recorded_answers(value) -> dict[str, dict]:
    if (not isinstance(value, dict) or len(value) > MAX_IMAGE_ERRORS
            or not all(isinstance(k, str) and re.fullmatch(r"[0-9a-f]{64}", k) and isinstance(v, dict)
                       for k, v in value.items())):
        raise ValueError(f'recorded_answers must be an object {{"<sha256 of the bytes>": {{...an '
                         f'AnnotateImageResponse...}}}} of at most {MAX_IMAGE_ERRORS:,} entries')
    return dict(value)
