"""atheris harness: an `images:annotate` body through the local Vision endpoint's request parser.

Anyone who reaches the endpoint controls the body. `parse_annotate` must answer with at
most 16 checked requests or a `BadRequest` (a 400) whose message stays short; any other
exception (it would drop the connection with a traceback) is a crash. Run by `make fuzz`.
"""
from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["tools.vision_requests"]):
    from tools.vision_requests import FEATURE_TYPES, INT32, MAX_IMAGES_PER_CALL, BadRequest, parse_annotate

MAX_ERROR_MESSAGE = 300
NAMES = set(FEATURE_TYPES.values())


def test_one_input(data: bytes) -> None:
    try:
        requests = parse_annotate(data)
    except BadRequest as e:
        assert len(str(e)) <= MAX_ERROR_MESSAGE, str(e)[:200]
        return
    assert len(requests) <= MAX_IMAGES_PER_CALL
    for r in requests:
        assert r.content is None or (isinstance(r.content, bytes) and r.content), r
        assert r.uri is None or (isinstance(r.uri, str) and r.uri), r.uri[:200]
        assert all(n in NAMES and 0 <= k <= INT32[1] for n, k in r.features.items()), r.features


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
