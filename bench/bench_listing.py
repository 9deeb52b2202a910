"""Listing speed of a bucket: today's key-range listers (1, 2, 4 in parallel) vs one sequential list.

The objects (small real JPEGs) are written as files into fake-gcs-server's
filesystem root before it starts (DIR/<bucket>/<object> is the object), so
100,000 objects take seconds. Two measurements, each in a child process:

- listers: the real DoFns (`_PlanRanges`, `_ListRange`) on threads; objects
  listed per second, the time until the first image is listed, peak RSS, at two
  object counts, so one can see the memory does not grow with the bucket;
- pipeline: the real job (`python -m pipeline`, local models, DuckDB) on the
  bucket, and the time from launch until the first row is in the DuckDB file,
  with today's ListImages and with the lister this project had before (one
  sequential list, then a Reshuffle: a barrier on batch runners). The job is
  stopped once the first row is there.

    make bench BENCH=listing      (or: python -m bench listing)
    BENCH_LISTING_SIZES=10000,100000 to choose the object counts.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time

BUCKET = "bench-listing"
OUT_BUCKET = "bench-listing-out"   # the category copies go elsewhere, so runs see the same bucket
PREFIX = "photos/"
MODES = (("single", 1), ("ranges", 1), ("ranges", 2), ("ranges", 4))
JOB_ROWS = {("single", 1): "old", ("ranges", 1): "now"}


def _jpeg() -> bytes:
    """A small real photo-like JPEG (a gradient), so the job classifies it rather than refusing it."""
    from PIL import Image
    img = Image.linear_gradient("L").resize((48, 48)).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def _object_metadata(generation: int, body: bytes) -> bytes:
    """What fake-gcs-server's filesystem backend keeps in the `user.metadata` xattr of an object."""
    import google_crc32c
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    crc = base64.b64encode(google_crc32c.value(body).to_bytes(4, "big")).decode()
    return json.dumps({
        "StorageClass": "STANDARD", "ContentType": "image/jpeg", "ContentEncoding": "", "ContentDisposition": "",
        "ContentLanguage": "", "CacheControl": "", "Crc32c": crc, "Md5Hash": md5,
        "Etag": md5, "ACL": [], "Metadata": None, "Created": "2026-01-01T00:00:00Z",
        "Deleted": "0001-01-01T00:00:00Z", "Updated": "2026-01-01T00:00:00Z", "CustomTime": "0001-01-01T00:00:00Z",
        "Generation": generation, "RetentionMode": "", "RetentionRetainUntil": ""}).encode()


def write_objects(root: str, n: int) -> None:
    """n small .jpg objects under names that share prefixes, as fake-gcs-server filesystem files."""
    body = _jpeg()
    for bucket in (BUCKET, OUT_BUCKET):
        os.makedirs(os.path.join(root, bucket), exist_ok=True)
        with open(os.path.join(root, f"{bucket}.bucketMetadata"), "w") as f:
            f.write('{"DefaultEventBasedHold":false,"VersioningEnabled":false}')
    for i in range(n):
        folder = os.path.join(root, BUCKET, PREFIX, f"{i % 97:02d}", f"{i % 7}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"img-{i:07d}.jpg")
        with open(path, "wb") as f:
            f.write(body)
        os.setxattr(path, "user.metadata", _object_metadata(1_700_000_000_000_000 + i, body))


def child(mode: str, listers: int) -> dict:
    """Run in a fresh process: list gs://BUCKET/PREFIX and report figures."""
    import resource
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from transforms.clients import storage_client
    from transforms.sources.list_images import _ListRange, _PlanRanges, object_ref
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


def _old_list_images(input_path: str, category_root: str):
    """The lister this project had before the key ranges: one sequential list, then a Reshuffle."""
    import apache_beam as beam

    from transforms.clients import split_gcs, storage_client
    from transforms.sources.list_images import object_ref
    from transforms.stage import StageOutput, no_errors

    class ListAll(beam.DoFn):
        def setup(self):
            self.client = storage_client()

        def process(self, uri: str):
            bucket, prefix = split_gcs(uri)
            for blob in self.client.list_blobs(bucket, prefix=prefix, page_size=1000):
                ref = object_ref(bucket=bucket, name=blob.name, generation=blob.generation, prefix=prefix,
                                 category_root=category_root, size=blob.size, content_type=blob.content_type,
                                 updated=blob.updated, metadata=blob.metadata)
                if not isinstance(ref, str):
                    yield ref

    class OldListImages(beam.PTransform):
        def expand(self, pbegin):
            refs = (pbegin | beam.Create([input_path]) | "ListAll" >> beam.ParDo(ListAll())
                    | "Spread" >> beam.Reshuffle())
            return StageOutput(refs, no_errors(pbegin, "NoListingErrors"))

    return OldListImages()


def pipeline_child(lister: str, duckdb_path: str) -> int:
    """Run the real job on the bench bucket (`lister` = 'now' or 'old')."""
    import pipeline.graph
    from pipeline.run import main as run_job
    if lister == "old":
        pipeline.graph.ListImages = _old_list_images  # type: ignore[assignment,misc]
    return run_job([f"--input=gs://{BUCKET}/{PREFIX}", f"--category_root=gs://{OUT_BUCKET}/classified",
                    f"--duckdb={duckdb_path}"])


def _rows_in(path: str) -> int:
    import duckdb
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.Error:      # not created yet, or the job holds its write lock right now
        return 0
    try:
        sql = "SELECT (SELECT count(*) FROM classifications) + (SELECT count(*) FROM errors)"
        return con.execute(sql).fetchone()[0]
    except duckdb.Error:
        return 0
    finally:
        con.close()


def first_row(url: str, lister: str, work: str, timeout: float = 1800) -> float:
    """Seconds from launching the job until its first row is in the DuckDB file; the job is then stopped."""
    db = os.path.join(work, f"{lister}.duckdb")
    env = dict(os.environ, STORAGE_EMULATOR_HOST=url)
    with open(os.path.join(work, f"{lister}.log"), "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "bench.bench_listing", "pipeline", lister, db],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            while time.monotonic() - t0 < timeout:
                if proc.poll() is not None and not _rows_in(db):
                    raise RuntimeError(f"job with the {lister} lister ended with no row (see {log.name})")
                if os.path.exists(db) and _rows_in(db):
                    return time.monotonic() - t0
                time.sleep(0.25)
            raise RuntimeError(f"no row after {timeout:.0f} s with the {lister} lister")
        finally:
            proc.kill()
            proc.wait()


def measure(url: str, mode: str, listers: int) -> dict:
    env = dict(os.environ, STORAGE_EMULATOR_HOST=url)
    done = subprocess.run([sys.executable, "-m", "bench.bench_listing", mode, str(listers)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"lister {mode} x{listers} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    from tests.emulators import fake_gcs
    sizes = [int(s) for s in os.environ.get("BENCH_LISTING_SIZES", "10000,100000").split(",")]
    print(f"{'objects':>8} {'lister':<12} {'listed/s':>9} {'first image (s)':>16} {'peak RSS (MiB)':>15} "
          f"{'first row (s)':>14}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as work:
            write_objects(os.path.join(work, "gcs"), n)
            with fake_gcs(work) as (url, _):
                for mode, listers in MODES:
                    r = measure(url, mode, listers)
                    assert r["objects"] == n, f"{mode} x{listers} listed {r['objects']} of {n}"
                    name = "old single" if mode == "single" else f"ranges x{listers}"
                    row = ""
                    if (mode, listers) in JOB_ROWS:   # the real job: today's ListImages, or the old lister
                        row = f"{first_row(url, JOB_ROWS[(mode, listers)], work):>14.1f}"
                    print(f"{n:>8} {name:<12} {r['objects'] / r['seconds']:>9.0f} {r['first']:>16.2f} "
                          f"{r['rss_mib']:>15.0f} {row}", flush=True)
    print("first row: from launching `python -m pipeline` (local models, DuckDB) until a row is in the file; "
          "the job's own ListImages plans 64 ranges (on the 'ranges x1' line), the old lister lists then "
          "reshuffles ('old single').")


if __name__ == "__main__":
    if sys.argv[1] == "pipeline":
        sys.exit(pipeline_child(sys.argv[2], sys.argv[3]))
    print(json.dumps(child(sys.argv[1], int(sys.argv[2]))))
