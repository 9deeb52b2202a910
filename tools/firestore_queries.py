"""The Cloud Function's lookups, against the documents the pipeline writes to Firestore.

    python -m tools.firestore_queries category CATEGORY [--limit N] [--collection C] [--project P]
    python -m tools.firestore_queries label LABEL [--limit N] ...
    python -m tools.firestore_queries image BUCKET NAME ...

`search_by_category` is the seed's query unchanged (primary_category == X,
newest classified_at first); `search_by_label` is an `array_contains` query on
`label_names` (lower case) instead of the seed's scan of every document;
`latest_image` finds an object's newest generation by query, since document
ids are per generation. The two ordered queries need the composite indexes in
templates/firestore.indexes.json (deploy them with the Firebase CLI or gcloud).
"""
from __future__ import annotations

import argparse
import json
import sys

from transforms.sinks.firestore_sink import firestore_client

COLLECTION = "image_classifications"


def _collection(db, collection: str):
    return db.collection(collection)


def search_by_category(db, category: str, limit: int = 10, collection: str = COLLECTION) -> list[dict]:
    """The newest `limit` images whose primary category is `category`."""
    from google.cloud.firestore import FieldFilter, Query
    q = (_collection(db, collection).where(filter=FieldFilter("primary_category", "==", category))
         .order_by("classified_at", direction=Query.DESCENDING).limit(limit))
    return [d.to_dict() for d in q.stream()]


def search_by_label(db, label: str, limit: int = 10, collection: str = COLLECTION) -> list[dict]:
    """The newest `limit` images with a kept label named `label` (case-insensitive)."""
    from google.cloud.firestore import FieldFilter, Query
    q = (_collection(db, collection).where(filter=FieldFilter("label_names", "array_contains", label.lower()))
         .order_by("classified_at", direction=Query.DESCENDING).limit(limit))
    return [d.to_dict() for d in q.stream()]


def latest_image(db, bucket: str, name: str, collection: str = COLLECTION) -> dict | None:
    """The document of the newest generation of gs://bucket/name (local runs: input folder, relative path)."""
    from google.cloud.firestore import FieldFilter, Query
    q = (_collection(db, collection).where(filter=FieldFilter("bucket", "==", bucket))
         .where(filter=FieldFilter("name", "==", name))
         .order_by("generation", direction=Query.DESCENDING).limit(1))
    docs = [d.to_dict() for d in q.stream()]
    return docs[0] if docs else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.firestore_queries", description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("category", "label", "image"))
    parser.add_argument("values", nargs="+", help="CATEGORY, LABEL, or BUCKET NAME")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--collection", default=COLLECTION)
    parser.add_argument("--project", default=None, help="default: the environment's project")
    parser.add_argument("--database", default="(default)")
    a = parser.parse_args(argv)
    db = firestore_client(a.project, a.database)
    if a.what == "image":
        if len(a.values) != 2:
            parser.error("image needs BUCKET NAME")
        found = latest_image(db, a.values[0], a.values[1], a.collection)
        docs = [found] if found else []
    else:
        search = search_by_category if a.what == "category" else search_by_label
        docs = search(db, a.values[0], a.limit, a.collection)
    for d in docs:
        print(json.dumps(d, default=str, sort_keys=True))
    return 0 if docs else 1


if __name__ == "__main__":
    sys.exit(main())
