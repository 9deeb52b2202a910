"""Read `--categories` (a built-in name, `top_label`, a local file or gs://) into a Taxonomy.

This is the I/O half of the taxonomy: it runs when settings are resolved, before
any graph exists, so a bad file stops the job with one line and the workers only
ever see the parsed, picklable value.
"""
from __future__ import annotations

import os

from transforms.clients import split_gcs, storage_client
from transforms.taxonomy import (
    BUILTIN_PREFIX,
    TOP_LABEL,
    TOP_LABEL_SPEC,
    Taxonomy,
    TaxonomyError,
    builtin_text,
    parse_taxonomy,
)

MAX_FILE_BYTES = 1024 * 1024   # a taxonomy is a short list; a larger file is a mistake
DEFAULT_CATEGORIES = BUILTIN_PREFIX + "everyday"


def _read(path: str) -> bytes:
    if path.startswith("gs://"):
        bucket, name = split_gcs(path)
        if not bucket or not name:
            raise TaxonomyError(f"{path}: a gs:// path must name a bucket and an object")
        from google.api_core.exceptions import GoogleAPIError
        try:
            blob = storage_client().bucket(bucket).get_blob(name)
            if blob is None:
                raise TaxonomyError(f"{path}: no such object")
            if (blob.size or 0) > MAX_FILE_BYTES:
                raise TaxonomyError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
            return blob.download_as_bytes()
        except GoogleAPIError as e:
            raise TaxonomyError(f"{path}: cannot read it: {type(e).__name__}") from None
    local = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(local):
        raise TaxonomyError(f"{path}: no such file")
    if os.path.getsize(local) > MAX_FILE_BYTES:
        raise TaxonomyError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    with open(local, "rb") as f:
        return f.read()


def load_taxonomy(spec: str | None) -> Taxonomy:
    """The taxonomy `spec` names; TaxonomyError with a one-line message when it is unusable."""
    spec = (spec or DEFAULT_CATEGORIES).strip()
    if spec == TOP_LABEL_SPEC:
        return TOP_LABEL
    if spec.startswith(BUILTIN_PREFIX):
        return parse_taxonomy(builtin_text(spec[len(BUILTIN_PREFIX):]), spec)
    data = _read(spec)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TaxonomyError(f"{spec}: not UTF-8 text") from None
    return parse_taxonomy(text, spec)
