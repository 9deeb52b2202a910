"""Cloud Storage notifications as Pub/Sub delivers them, for the notification parser's tests."""
import copy
import json
import os

from tests import paths

FIXTURES = os.path.join(paths.FIXTURES, "notifications")
ROOT = "gs://photos/classified"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def obj_resource(name="in/cat.jpg", generation="1700000000000001", **extra):
    return {"kind": "storage#object", "bucket": "photos", "name": name, "generation": generation,
            "size": "2048", "contentType": "image/jpeg", "updated": "2024-05-01T10:00:00.123Z", **extra}


def gcs_attrs(name="in/cat.jpg", generation="1700000000000001", event="OBJECT_FINALIZE", fmt="JSON_API_V1"):
    return {"bucketId": "photos", "objectId": name, "objectGeneration": generation, "eventType": event,
            "payloadFormat": fmt, "eventTime": "2024-05-01T10:00:00.5Z"}


def as_bytes(obj) -> bytes:
    return json.dumps(obj).encode()


def cloudevent(data: dict, kind="google.cloud.storage.object.v1.finalized") -> bytes:
    return as_bytes({"specversion": "1.0", "type": kind, "id": "ev-1", "time": "2024-05-01T10:00:01Z",
                     "source": f"//storage.googleapis.com/projects/_/buckets/{data.get('bucket')}",
                     "subject": f"objects/{data.get('name')}", "datacontenttype": "application/json",
                     "data": data})


def without(d: dict, key: str) -> dict:
    """A deep copy of `d` less `key`."""
    d = copy.deepcopy(d)
    d.pop(key)
    return d
