"""The local Vision endpoint's request parser: an `images:annotate` body -> checked requests.

A pure function, so it can be fuzzed without a server (`make fuzz`, fuzz/fuzz_annotate_request.py).
Anyone who reaches the endpoint controls the body; every shape the real API refuses (a body
that is not a JSON object, `requests` that is not a list, an unknown feature type, a
`maxResults` that is not an int32, content that is not base64, JSON nested too deep) raises
`BadRequest`, which the server answers with 400 INVALID_ARGUMENT and the field's path, as
the real API does. Values are echoed only cut short. Unknown fields are ignored (the real
API refuses them; tests pad bodies with them to reach the size limit).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

from google.cloud.vision import Feature

MAX_IMAGES_PER_CALL = 16            # the real API's limit on images in one call
INT32 = (-(2**31), 2**31 - 1)
SHOWN_CHARS = 40
_NAMES = {t.name: t.value for t in Feature.Type.__members__.values()}
FEATURE_TYPES = {**{n: n for n in _NAMES}, **{str(v): n for n, v in _NAMES.items()}}   # names, and numbers as text
_INT = re.compile(r"-?[0-9]{1,10}")
_TYPE_URL = "type.googleapis.com/google.cloud.vision.v1.Feature.Type"


class BadRequest(ValueError):
    """The body is not an AnnotateImages request; the message names the field and the rule."""


@dataclass(frozen=True)
class ImageRequest:
    """One image to annotate: inline bytes or a URI (neither: nothing was given), and the features asked."""
    content: bytes | None = None
    uri: str | None = None
    features: dict[str, int] = field(default_factory=dict)   # feature name -> maxResults (0: the default)


def shown(value) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text):,} characters)"


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _expect(value, kind: type, where: str, what: str):
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"Invalid value at '{where}': expected {what}, got {_kind(value)}.")
    return value


def parse_annotate(body: bytes) -> list[ImageRequest]:
    """The requests in an `images:annotate` body, checked; BadRequest for anything the real API refuses."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):   # RecursionError: JSON nested deeper than the parser's stack
        raise BadRequest("Invalid JSON payload received.") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"Invalid JSON payload received. Expected an object at the top level, got {_kind(payload)}.")
    requests = payload.get("requests")
    if requests is None:
        return []
    _expect(requests, list, "requests", "a list of AnnotateImageRequest")
    if len(requests) > MAX_IMAGES_PER_CALL:
        raise BadRequest(f"At most {MAX_IMAGES_PER_CALL} images per request; got {len(requests)}.")
    return [_request(r, f"requests[{i}]") for i, r in enumerate(requests)]


def _request(value, where: str) -> ImageRequest:
    _expect(value, dict, where, "an AnnotateImageRequest object")
    image = value.get("image")
    content, uri = None, None
    if image is not None:
        _expect(image, dict, f"{where}.image", "an Image object")
        content = _content(image.get("content"), f"{where}.image.content")
        source = image.get("source")
        if source is not None:
            _expect(source, dict, f"{where}.image.source", "an ImageSource object")
            for key in ("imageUri", "gcsImageUri"):
                text = source.get(key)
                if text is not None:
                    _expect(text, str, f"{where}.image.source.{key}", "a string")
                    uri = uri or text or None
    features = value.get("features")
    wanted: dict[str, int] = {}
    if features is not None:
        _expect(features, list, f"{where}.features", "a list of Feature")
        for j, feature in enumerate(features):
            name, max_results = _feature(feature, f"{where}.features[{j}]")
            wanted[name] = max_results
    return ImageRequest(content, uri, wanted)


def _content(value, where: str) -> bytes | None:
    """proto3 JSON bytes: standard or URL-safe base64, padding optional. An empty string is no content."""
    if value is None or value == "":
        return None
    text = _expect(value, str, where, "base64 text")
    text = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):   # ValueError: text that is not ASCII
        raise BadRequest(f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed.") from None


def _feature(value, where: str) -> tuple[str, int]:
    _expect(value, dict, where, "a Feature object")
    kind = value.get("type", "TYPE_UNSPECIFIED")
    name = FEATURE_TYPES.get(str(kind)) if isinstance(kind, (str, int)) and not isinstance(kind, bool) else None
    if name is None:
        raise BadRequest(f"Invalid value at '{where}.type' ({_TYPE_URL}), {shown(kind)}")
    return name, max(0, _int32(value.get("maxResults", 0), f"{where}.maxResults"))


def _int32(value, where: str) -> int:
    """proto3 JSON int32: a number with no fraction, or the same as a string."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT.fullmatch(value):
        number = int(value)
    if number is None or not INT32[0] <= number <= INT32[1]:
        raise BadRequest(f"Invalid value at '{where}' (TYPE_INT32), {shown(value)}")
    return number
