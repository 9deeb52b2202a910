"""Keep secrets out of error rows and logs.

Error messages often quote a request: a URL with `?key=`, an `Authorization`
header, a token in a JSON body. Error rows are read by many people and logs
are shipped far, so both pass through `redact` first.
"""
from __future__ import annotations

import logging
import re

_PATTERNS = [
    (re.compile(r"AIza[0-9A-Za-z_\-]{35}"), "[REDACTED-API-KEY]"),                 # Google API keys
    (re.compile(r"ya29\.[0-9A-Za-z_\-\.]+"), "[REDACTED-TOKEN]"),                   # OAuth access tokens
    (re.compile(r"(?i)\b(bearer)\s+[0-9A-Za-z_\-\.=]+"), r"\1 [REDACTED]"),
    (re.compile(r"(?i)([?&](?:key|api_key|apikey|access_token|token|sig|signature"
                r"|x-goog-signature|x-goog-credential)=)[^&\s'\"]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)(\"(?:private_key|client_secret|refresh_token|access_token)\"\s*:\s*\")[^\"]+"),
     r"\1[REDACTED]"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
     "[REDACTED-PRIVATE-KEY]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is not ours to fix here
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
