"""Credentials never reach error rows or logs."""
import logging

from transforms.records import ImageRef, error_row
from transforms.redact import RedactingFilter, redact

KEY = "AIzaSyA-1234567890abcdefghijklmnopqrstu"
SECRETS = [
    f"POST https://vision.googleapis.com/v1/images:annotate?key={KEY} failed",
    "401 Unauthorized: Authorization: Bearer ya29.a0AfH6SMBx-secret-token.value",
    'credentials {"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEv\\n-----END PRIVATE KEY-----\\n"}',
    "GET https://storage.googleapis.com/b/o?X-Goog-Signature=abcdef0123&sig=zzz",
    '{"refresh_token": "1//0gSecretRefresh", "client_secret": "GOCSPX-secret"}',
]


def test_secrets_are_removed__error_rows():
    ref = ImageRef(uri="gs://b/a.jpg", bucket="b", name="a.jpg", generation=1, rel_path="a.jpg")
    for text in SECRETS:
        message = error_row(ref, "annotate", "x", text)["message"]
        for secret in (KEY, "ya29.a0AfH6SMBx", "MIIEv", "abcdef0123", "1//0gSecretRefresh", "GOCSPX-secret"):
            assert secret not in message, message
        assert "REDACTED" in message


def test_ordinary_messages_are_untouched__no_secret():
    text = "the JPEG data is truncated: image file is truncated (4 bytes not processed)"
    assert redact(text) == text


def test_log_records_are_redacted__logging_filter(caplog):
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.WARNING, logger="test.redact"):
        logger.warning("calling %s", f"https://x/?key={KEY}")
    assert KEY not in caplog.text and "[REDACTED]" in caplog.text
