"""Seed inputs for the fuzz targets, written fresh on each run.

Decode: small real images in every accepted format and in the shapes that take
other code paths (progressive JPEG, EXIF rotation, palette, alpha, 16-bit,
CMYK, animated GIF, compressed TIFF), a shrunk sample photo, the headers of
refused formats (EPS, PSD, SVG), and the header of every decompression bomb
kind (tools/bombs.py), so mutations explore the decode budget's edges.
Notification: the captured payloads in tests/fixtures/notifications and each
message shape the parser accepts. Endpoint request: each `images:annotate` shape
the local endpoint's parser accepts (content in both base64 alphabets, URIs,
feature names and numbers) and the malformed ones it must answer with a 400.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "notifications")


def _save(im, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def decode_seeds() -> list[bytes]:
    import numpy as np
    from PIL import Image

    from tests.integration.streaming_support import small_jpeg
    from tools.bombs import every_kind
    rgb = Image.fromarray((np.indices((24, 32)).sum(axis=0) * 7 % 256).astype(np.uint8)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6   # orientation: rotated 90°
    seeds = [small_jpeg("chelsea", side=48),
             _save(rgb, "JPEG", quality=70), _save(rgb, "JPEG", progressive=True), _save(rgb, "JPEG", exif=exif),
             _save(rgb.convert("CMYK"), "JPEG"), _save(rgb, "PNG"), _save(rgb.convert("RGBA"), "PNG"),
             _save(rgb.convert("I;16"), "PNG"), _save(rgb.convert("P"), "PNG"), _save(rgb.convert("P"), "GIF"),
             _save(rgb.convert("P"), "GIF", save_all=True, append_images=[rgb.rotate(90).convert("P")]),
             _save(rgb, "WEBP", quality=50), _save(rgb, "WEBP", lossless=True), _save(rgb, "BMP"),
             _save(rgb.resize((16, 16)), "ICO"), _save(rgb, "TIFF"), _save(rgb, "TIFF", compression="tiff_lzw"),
             _save(rgb.convert("F"), "TIFF"),
             b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
             b"8BPS\x00\x01" + bytes(20), b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>']
    return seeds + list(every_kind().values())


def _message(attributes: dict, data: bytes) -> bytes:
    return json.dumps(attributes).encode() + b"\0" + data


def notification_seeds() -> list[bytes]:
    def fixture(name):
        with open(os.path.join(FIXTURES, name)) as f:
            return json.load(f)
    push = fixture("gcs_pubsub_push_object_finalize_2017.json")["message"]
    attrs_2021 = fixture("gcs_notification_attributes_2021.json")["attributes"]
    ce_data = fixture("cloudevent_storage_object_data_testdata.json")["data"]
    obj = {"bucket": "photos", "name": "in/cat.jpg", "generation": "1700000000000001", "size": "2048",
           "contentType": "image/jpeg", "updated": "2024-05-01T10:00:00.123Z", "metadata": {"k": "v"}}
    ce_attrs = {"ce-type": "google.cloud.storage.object.v1.finalized", "ce-specversion": "1.0",
                "ce-source": "//storage.googleapis.com/projects/_/buckets/photos", "ce-subject": "objects/in/cat.jpg",
                "ce-time": "2024-05-01T10:00:02.000000001Z"}
    envelope = {"specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", "time": "2024-05-01T10:00Z",
                "source": "//storage.googleapis.com/projects/_/buckets/sample-bucket", "subject": "objects/MyFile"}
    return [
        _message(push["attributes"], base64.b64decode(push["data"])),
        _message(attrs_2021, b""), _message(dict(attrs_2021, payloadFormat="NONE"), b""),
        _message({"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", "bucketId": "photos",
                  "objectId": "in/cat.jpg", "objectGeneration": "1700000000000001"}, json.dumps(obj).encode()),
        _message({"eventType": "OBJECT_DELETE", "payloadFormat": "JSON_API_V1"}, json.dumps(obj).encode()),
        _message(ce_attrs, json.dumps(obj).encode()),
        _message({}, json.dumps(dict(envelope, data=ce_data)).encode()),
        _message({}, json.dumps(dict(envelope, data_base64=base64.b64encode(json.dumps(obj).encode()).decode()))
                 .encode()),
    ]


def endpoint_request_seeds() -> list[bytes]:
    content = base64.b64encode(bytes(range(64))).decode()
    good = {"requests": [
        {"image": {"content": content}, "features": [{"type": "LABEL_DETECTION", "maxResults": 10},
                                                     {"type": "SAFE_SEARCH_DETECTION"}]},
        {"image": {"content": base64.urlsafe_b64encode(bytes(range(200, 256))).decode().rstrip("=")},
         "features": [{"type": 4, "maxResults": "5"}, {"type": "19"}]},
        {"image": {"source": {"gcsImageUri": "gs://photos/in/cat.jpg#1700000000000001"}},
         "features": [{"type": "OBJECT_LOCALIZATION", "maxResults": 3.0}]},
        {"image": {"source": {"imageUri": "gs://photos/in/dog.jpg"}}, "imageContext": {"languageHints": ["en"]}},
        {}], "parent": "projects/p/locations/eu"}
    return [json.dumps(good).encode(), b"{}", b'{"requests": []}', b'{"requests": null}',
            b'[{"requests": []}]', b'{"requests": 5}', b'{"requests": "abc"}', b"[1]",
            b'{"requests": [{"features": [{"type": 99}]}]}',
            b'{"requests": [{"features": [{"type": "LABEL_DETECTION", "maxResults": "x"}]}]}',
            b'{"requests": [{"image": {"content": "%%%"}}]}', b'{"requests": ' + b"[" * 64 + b"]" * 64 + b"}",
            json.dumps({"requests": [{}] * 17}).encode()]


def write_seeds(target: str, folder: str) -> int:
    """Write the target's seeds into `folder` (named by their SHA-1, as libFuzzer names inputs)."""
    os.makedirs(folder, exist_ok=True)
    seeds = {"decode": decode_seeds, "notification": notification_seeds,
             "endpoint_request": endpoint_request_seeds}[target]()
    for seed in seeds:
        with open(os.path.join(folder, hashlib.sha1(seed).hexdigest()), "wb") as f:
            f.write(seed)
    return len(seeds)
