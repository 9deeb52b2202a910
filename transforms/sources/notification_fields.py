"""The checks a notification's fields must pass before they name an image version.

Anyone who can publish to the subscription's topic can send anything: a 9 MB
payload, bytes that are not UTF-8, JSON nested 100,000 deep, a generation of
`1e400`, an object name of 10 KB. Each check here either returns a clean value
or raises `MalformedNotification` naming the rule that was broken, so a hostile
message becomes one error row instead of a failed bundle (which the runner
would retry, then stop the job on). Values are echoed only through `shown`,
cut to a few dozen characters, so no payload is copied into an error row.
The limits are Cloud Storage's own (object names 1 to 1024 bytes of UTF-8
without CR/LF, bucket names 3 to 222 characters) and BigQuery's INT64.
"""
from __future__ import annotations

import datetime as dt
import json
import re

MAX_NAME_BYTES = 1024                 # Cloud Storage's limit on an object name
MAX_INT64 = 2**63 - 1                 # generations and sizes are INT64 columns
MAX_CONTENT_TYPE = 255                # RFC 6838: type and subtype of 127 characters each
SHOWN_CHARS = 60
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_DIGITS = re.compile(r"[0-9]{1,19}")


class MalformedNotification(ValueError):
    """The message is not a Cloud Storage notification we can act on."""


def shown(value) -> str:
    """A value as echoed in an error message: its repr, cut to SHOWN_CHARS, with its length if cut."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    size = f"{len(value):,} characters" if isinstance(value, (str, bytes)) else f"{len(text):,} characters as text"
    return f"{text[:SHOWN_CHARS]}… ({size})"


def json_object(data: bytes, what: str) -> dict:
    """The JSON object `data` holds; not UTF-8, not JSON, too deep or not an object is malformed."""
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise MalformedNotification(f"{what} is not JSON: not UTF-8 ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise MalformedNotification(f"{what} is not JSON we accept: nested too deeply") from None
    except ValueError as e:   # JSONDecodeError's message quotes no input, only a position
        raise MalformedNotification(f"{what} is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise MalformedNotification(f"{what} is JSON but not an object (a {type(value).__name__})")
    return value


def strict_int(value, what: str) -> int:
    """A JSON integer or a string of decimal digits within INT64; no bool, float, sign, `_` or spaces."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise MalformedNotification(f"{what} is not an integer: {shown(value)}")
    if number < 0:
        raise MalformedNotification(f"{what} is negative: {number}")
    if number > MAX_INT64:
        raise MalformedNotification(f"{what} is out of range (above 2^63-1): {shown(value)}")
    return number


def optional_text(value, what: str, limit: int | None = None) -> str | None:
    """A string field that may be absent; any other JSON type, or one over `limit`, is malformed."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise MalformedNotification(f"{what} is not a string: {shown(value)}")
    if limit is not None and len(value) > limit:
        raise MalformedNotification(f"{what} is longer than {limit} characters: {shown(value)}")
    return value


def iso_time(value, what: str = "timestamp") -> str | None:
    """RFC 3339 (with Z, and up to nanoseconds) -> ISO 8601 UTC, or None."""
    text = optional_text(value, what, limit=64)
    if text is None:
        return None
    text = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in text:  # Python parses at most 6 fractional digits
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        text = f"{head}.{tail[:min(digits, 6)]}{tail[digits:]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.timezone.utc)
        return parsed.astimezone(dt.timezone.utc).isoformat()
    except (ValueError, OverflowError):   # year 1 at +01:00 overflows on the way to UTC
        raise MalformedNotification(f"bad timestamp {shown(value)}") from None


def bucket_name(value) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedNotification("the bucket name is missing" if value in (None, "")
                                    else f"the bucket name is not a string: {shown(value)}")
    if not _BUCKET.fullmatch(value):
        raise MalformedNotification(f"bad bucket name {shown(value)}: Cloud Storage allows 3 to 222 of "
                                    "a-z, 0-9, '-', '_', '.', starting and ending with a letter or digit")
    return value


def object_name(value) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedNotification("the object name is missing" if value in (None, "")
                                    else f"the object name is not a string: {shown(value)}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:   # a lone surrogate, from a JSON escape like "\ud800"
        raise MalformedNotification(f"the object name is not valid UTF-8: {shown(value)}") from None
    if size > MAX_NAME_BYTES:
        raise MalformedNotification(f"the object name is {size:,} bytes, over Cloud Storage's "
                                    f"{MAX_NAME_BYTES}: {shown(value)}")
    if "\r" in value or "\n" in value or value in (".", ".."):
        raise MalformedNotification(f"the object name {shown(value)} is not one Cloud Storage allows "
                                    "(CR, LF, '.' or '..')")
    return value
