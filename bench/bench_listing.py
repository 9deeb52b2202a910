"""Listing speed of a bucket: today's key-range listers (1, 2, 4 in parallel) vs one sequential list.

The objects are written as files into fake-gcs-server's filesystem root before
it starts (DIR/<bucket>/<object> is the object), so 100,000 objects take
seconds. Each measurement runs in a child process with the real DoFns
(`_PlanRanges`, `_ListRange`) and reports objects per second, the time until the
first image is listed, and the child's peak RSS, at two object counts, so
one can see the memory does not grow with the bucket.

    make bench BENCH=listing      (or: python -m bench listing)
    BENCH_LISTING_SIZES=20000,100000 to choose the object counts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

BUCKET = "bench-listing"
PREFIX = "photos/"
MODES = (("single", 1), ("ranges", 1), ("ranges", 2), ("ranges", 4))


def _object_metadata(generation: int) -> bytes:
    """What fake-gcs-server's filesystem backend keeps in the `user.metadata` xattr of an object (body b"x")."""
    return json.dumps({
        "StorageClass": "STANDARD", "ContentType": "image/jpeg", "ContentEncoding": "", "ContentDisposition": "",
        "ContentLanguage": "", "CacheControl": "", "Crc32c": "qTxfkw==", "Md5Hash": "ndTkYSaMgDT1yFZOFVxnpg==",
        "Etag": "ndTkYSaMgDT1yFZOFVxnpg==", "ACL": [], "Metadata": None, "Created": "2026-01-01T00:00:00Z",
        "Deleted": "0001-01-01T00:00:00Z", "Updated": "2026-01-01T00:00:00Z", "CustomTime": "0001-01-01T00:00:00Z",
        "Generation": generation, "RetentionMode": "", "RetentionRetainUntil": ""}).encode()


def write_objects(root: str, n: int) -> None:
    """n tiny .jpg objects under names that share prefixes, as fake-gcs-server filesystem files."""
    os.makedirs(os.path.join(root, BUCKET), exist_ok=True)
    with open(os.path.join(root, f"{BUCKET}.bucketMetadata"), "w") as f:
        f.write('{"DefaultEventBasedHold":false,"VersioningEnabled":false}')
    for i in range(n):
        folder = os.path.join(root, BUCKET, PREFIX, f"{i % 97:02d}", f"{i % 7}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"img-{i:07d}.jpg")
        with open(path, "wb") as f:
            f.write(b"x")
        os.setxattr(path, "user.metadata", _object_metadata(1_700_000_000_000_000 + i))


def child(mode: str, listers: int) -> dict:
    """Run in a fresh process: list gs://BUCKET/PREFIX and report figures."""
    import resource
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from transforms.clients import storage_client
    from transforms.list_images import _ListRange, _PlanRanges, object_ref
    category_root = f"gs://{BUCKET}/classified"
    t0 = time.monotonic()
    first, count, lock = [], [0], threading.Lock()

    def seen(n_images: int) -> None:
        with lock:
            if n_images and not first:
                first.append(time.monotonic() - t0)
            count[0] += n_images

    if mode == "single":  # the old lister: one sequential list of the whole prefix
        client = storage_client()
        for blob in client.list_blobs(BUCKET, prefix=PREFIX, page_size=1000):
            ref = object_ref(bucket=BUCKET, name=blob.name, generation=blob.generation, prefix=PREFIX,
                             category_root=category_root, size=blob.size, content_type=blob.content_type,
                             updated=blob.updated, metadata=blob.metadata)
            seen(0 if isinstance(ref, str) else 1)
    else:
        planner = _PlanRanges(target=max(8, 4 * listers))
        planner.setup()
        ranges = list(planner.process(f"gs://{BUCKET}/{PREFIX}"))

        def list_one(key_range) -> None:
            lister = _ListRange(category_root)
            lister.setup()
            for _ in lister.process(key_range):
                seen(1)

        with ThreadPoolExecutor(listers) as pool:
            list(pool.map(list_one, ranges))
    took = time.monotonic() - t0
    return {"objects": count[0], "seconds": took, "first": first[0] if first else None,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(url: str, mode: str, listers: int) -> dict:
    env = dict(os.environ, STORAGE_EMULATOR_HOST=url)
    done = subprocess.run([sys.executable, "-m", "bench.bench_listing", mode, str(listers)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"lister {mode} x{listers} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from tests.emulators import fake_gcs
    sizes = [int(s) for s in os.environ.get("BENCH_LISTING_SIZES", "20000,100000").split(",")]
    print(f"{'objects':>8} {'lister':<12} {'listed/s':>9} {'first image (s)':>16} {'peak RSS (MiB)':>15}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as work:
            write_objects(os.path.join(work, "gcs"), n)
            with fake_gcs(work) as (url, _):
                for mode, listers in MODES:
                    r = measure(url, mode, listers)
                    assert r["objects"] == n, f"{mode} x{listers} listed {r['objects']} of {n}"
                    name = "old single" if mode == "single" else f"ranges x{listers}"
                    print(f"{n:>8} {name:<12} {r['objects'] / r['seconds']:>9.0f} {r['first']:>16.2f} "
                          f"{r['rss_mib']:>15.0f}", flush=True)


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))
