"""--backend=vision end to end: the real google-cloud-vision client over real HTTP
against the project's Vision-compatible endpoint (tools/vision_endpoint.py)."""
import hashlib
import io

import duckdb
import pytest
from PIL import Image

from pipeline.run import main
from tests.integration.corpus import ROW, SKIP, write_corpus
from tools.vision_endpoint import control, running_endpoint
from transforms.stages.vision.annotate import BATCH_KEYS

FEATURES = "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"


def _run(argv):
    assert main(argv) == 0


def _read(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT name, primary_category, labels, is_safe, safe_search, content_type, "
                           "backend, model_version FROM classifications ORDER BY name").fetchall()
        errors = con.execute("SELECT name, stage, code, message, attempts FROM errors ORDER BY name").fetchall()
    finally:
        con.close()
    return rows, errors


def _tiny_photos(folder, count):
    """`count` distinct small JPEGs (a gradient with a different tint each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        im = Image.linear_gradient("L").resize((48, 48)).convert("RGB")
        im = Image.merge("RGB", [band.point(lambda v, k=k, i=i: (v + 37 * i * k) % 256)
                                 for k, band in enumerate(im.split(), start=1)])
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        (folder / f"img_{i:04d}.jpg").write_bytes(buf.getvalue())


@pytest.fixture(scope="module")
def corpus_runs(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("vision_corpus")
    images = root / "images"
    expected = write_corpus(str(images))
    common = [f"--input={images}", FEATURES, f"--model_dir={model_dir}"]
    _run([*common, f"--duckdb={root / 'local.duckdb'}", f"--category_root={root / 'c_local'}"])
    with running_endpoint("--enable_control", "--model_dir", model_dir) as url:
        _run([*common, "--backend=vision", f"--vision_endpoint={url}", f"--duckdb={root / 'vision.duckdb'}",
              f"--category_root={root / 'c_vision'}"])
        stats = control(url, "stats")
    return {"expected": expected, "local": _read(root / "local.duckdb"),
            "vision": _read(root / "vision.duckdb"), "stats": stats}


def test_rows_equal_the_local_backends__backfill_through_local_endpoint(corpus_runs):
    local_rows, local_errors = corpus_runs["local"]
    vision_rows, vision_errors = corpus_runs["vision"]
    expected = corpus_runs["expected"]
    assert [r[0] for r in vision_rows] == sorted(n for n, o in expected.items() if o == ROW)
    assert [r[0] for r in vision_rows] == [r[0] for r in local_rows]
    for lr, vr in zip(local_rows, vision_rows, strict=False):
        assert vr[1] == lr[1], vr[0]                       # primary category
        assert [lab["name"] for lab in vr[2]] == [lab["name"] for lab in lr[2]]
        assert [lab["score"] for lab in vr[2]] == pytest.approx([lab["score"] for lab in lr[2]], abs=1e-6)
        assert vr[3:6] == lr[3:6]                          # is_safe, safe_search, content type
        assert vr[6:] == ("vision", "cloud-vision-v1") and lr[6] == "local"
    # Bad files are the same error rows, at the decode stage, for both backends.
    assert [e[:3] for e in vision_errors] == [e[:3] for e in local_errors]
    assert sorted((e[0], e[2]) for e in vision_errors) == sorted(
        (n, o) for n, o in expected.items() if o not in (ROW, SKIP))


def test_few_calls_carry_the_whole_small_backfill__bytes_sent(corpus_runs):
    # Changed on purpose (issue 12): batches are keyed over BATCH_KEYS keys, not one hot key,
    # so a small backfill takes up to BATCH_KEYS calls instead of exactly one.
    log = corpus_runs["stats"]["log"]
    rows = len(corpus_runs["vision"][0])
    sizes = [c["images"] for c in log if c["status"] == 200]
    assert sum(sizes) == rows and len(sizes) <= BATCH_KEYS
    assert all(c["by_uri"] == 0 for c in log)


@pytest.fixture(scope="module")
def fast_endpoint():
    """An endpoint that answers without models: quota and fault tests need only speed."""
    with running_endpoint("--fixed_labels", "--enable_control") as url:
        yield url


def test_every_image_arrives_in_full_calls__quota_of_two_calls_per_second(fast_endpoint, tmp_path):
    _tiny_photos(tmp_path / "images", 96)
    control(fast_endpoint, "reset", {})
    control(fast_endpoint, "faults", {"quota_per_sec": 2.0})
    try:
        _run([f"--input={tmp_path / 'images'}", FEATURES, "--backend=vision", f"--vision_endpoint={fast_endpoint}",
              f"--duckdb={tmp_path / 'r.duckdb'}", f"--category_root={tmp_path / 'classified'}"])
        log = control(fast_endpoint, "stats")["log"]
    finally:
        control(fast_endpoint, "faults", {"quota_per_sec": 0})
    rows, errors = _read(tmp_path / "r.duckdb")
    assert len(rows) == 96 and errors == []
    accepted = [c for c in log if c["status"] == 200]
    assert sum(c["images"] for c in accepted) == 96
    assert len(accepted) <= 96 // 16 + BATCH_KEYS - 1   # full calls but for one partial one per key
    assert any(c["status"] == 429 for c in log)      # the quota was reached, and waited for


QUOTAS = {
    "bucket 2/s burst 2, bare 429": {"quota_per_sec": 2.0, "quota_burst": 2.0, "quota_retry_after": False},
    "window 6 calls per 3 s, bare 429": {"quota_window_calls": 6, "quota_window_secs": 3.0,
                                         "quota_retry_after": False},
    "window 6 calls per 3 s, Retry-After": {"quota_window_calls": 6, "quota_window_secs": 3.0,
                                            "quota_retry_after": True},
}
NO_QUOTA = {"quota_per_sec": 0.0, "quota_burst": 0.0, "quota_window_calls": 0, "quota_window_secs": 60.0,
            "quota_retry_after": True}


@pytest.mark.parametrize("quota", list(QUOTAS))
def test_every_image_is_one_row__quota_shapes_that_answer_429(fast_endpoint, tmp_path, quota):
    images = tmp_path / "images"
    _tiny_photos(images, 240)                 # 15 calls: more than the quota gives at once
    control(fast_endpoint, "reset", {})
    control(fast_endpoint, "faults", QUOTAS[quota])
    try:
        _run([f"--input={images}", FEATURES, "--backend=vision", f"--vision_endpoint={fast_endpoint}",
              f"--duckdb={tmp_path / 'r.duckdb'}", f"--category_root={tmp_path / 'classified'}"])
        log = control(fast_endpoint, "stats")["log"]
    finally:
        control(fast_endpoint, "faults", NO_QUOTA)
    rows, errors = _read(tmp_path / "r.duckdb")
    names = [r[0] for r in rows]
    assert errors == [] and len(names) == len(set(names)) == 240        # one row each: none lost, none doubled
    assert sorted(names) == sorted(p.name for p in images.iterdir())
    assert sum(c["images"] for c in log if c["status"] == 200) == 240
    assert any(c["status"] == 429 for c in log)                          # the quota pushed back


def test_transient_faults_retried_and_image_errors_kept__503_drop_slow_bad_json(fast_endpoint, tmp_path):
    images = tmp_path / "images"
    _tiny_photos(images, 64)
    bad = {f"img_{i:04d}.jpg" for i in (3, 17, 40)}
    image_errors = {hashlib.sha256((images / n).read_bytes()).hexdigest(): {"code": 3, "message": "Bad image data."}
                    for n in bad}
    control(fast_endpoint, "reset", {})
    control(fast_endpoint, "faults", {"error_5xx_every": 3, "drop_every": 5, "invalid_json_every": 7,
                                      "slow_every": 7, "slow_secs": 1.0, "image_errors": image_errors})
    try:
        _run([f"--input={images}", FEATURES, "--backend=vision", f"--vision_endpoint={fast_endpoint}",
              f"--duckdb={tmp_path / 'r.duckdb'}", f"--category_root={tmp_path / 'classified'}",
              "--max_concurrent_requests=2"])
        log = control(fast_endpoint, "stats")["log"]
    finally:
        control(fast_endpoint, "faults", {"error_5xx_every": 0, "drop_every": 0, "invalid_json_every": 0,
                                          "slow_every": 0, "image_errors": {}})
    rows, errors = _read(tmp_path / "r.duckdb")
    names = [r[0] for r in rows] + [e[0] for e in errors]
    assert sorted(names) == sorted(p.name for p in images.iterdir())     # nothing lost, nothing doubled
    assert sorted((e[0], e[1], e[2], e[3]) for e in errors) == sorted(
        (n, "annotate", "INVALID_ARGUMENT", "Bad image data.") for n in bad)
    statuses = [c["status"] for c in log]
    assert 503 in statuses and 0 in statuses          # faults were served, and survived
