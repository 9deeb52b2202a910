"""Hostile files in a local input, in real pipeline runs: symbolic links planted in
the input and in the category root, entries the listing cannot read, names that
carry terminal escapes, a symlinked --input, and Ctrl-C in the middle of a backfill.

Nothing outside the input may be read or written, every entry ends as a row, an
error row or a counted skip, and whatever a file name holds is printed as text.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import duckdb
import pytest

from pipeline.run import main
from tools.samples import jpeg_bytes, sample_photos
from transforms.sinks.duckdb_sink import connect

FEATURES = "--features=LABEL_DETECTION"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ESCAPE_NAME = "\x1b]2;pwned\x07\x1b[2Jfake\nClassified 999 images.jpg"


def _cat() -> bytes:
    return jpeg_bytes(sample_photos()["chelsea"])


def _outcomes(db) -> tuple[dict, dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT name, primary_category, category_uri FROM classifications").fetchall()}
        errors = {e[0]: e[1:] for e in con.execute("SELECT name, stage, code, message FROM errors").fetchall()}
    finally:
        con.close()
    return rows, errors


def _classified(db) -> int:
    """Rows written so far by a running job (0 before its first write)."""
    try:
        con = connect(str(db), read_only=True)   # waits while the job holds the file's lock
    except duckdb.Error:
        return 0
    try:
        return con.execute("SELECT count(*) FROM classifications").fetchone()[0]
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def linked(tmp_path_factory, model_dir):
    """Run 1 makes the copies; links are then planted where run 2 writes its copies."""
    root = tmp_path_factory.mktemp("linked")
    images, outside, db = root / "in", root / "outside", root / "r.duckdb"
    (images / "sub").mkdir(parents=True)
    (outside / "trap").mkdir(parents=True)
    cat = _cat()
    (images / "a.jpg").write_bytes(cat)
    (images / "sub" / "b.jpg").write_bytes(cat)
    (images / ESCAPE_NAME).write_bytes(b"just text, not a picture")
    (outside / "victim.jpg").write_bytes(b"the victim's own bytes")
    (outside / "private.jpg").write_bytes(jpeg_bytes(sample_photos()["coffee"]))
    os.symlink(outside / "private.jpg", images / "link.jpg")
    os.symlink(outside, images / "linkdir")
    argv = [f"--input={images}", f"--category_root={images / 'classified'}", f"--duckdb={db}", FEATURES,
            f"--model_dir={model_dir}"]
    first = _run(argv)
    rows, _ = _outcomes(db)
    folder = os.path.dirname(rows["a.jpg"][1])
    os.remove(os.path.join(folder, "a.jpg"))
    os.symlink(outside / "victim.jpg", os.path.join(folder, "a.jpg"))
    shutil.rmtree(os.path.join(folder, "sub"))
    os.symlink(outside / "trap", os.path.join(folder, "sub"))
    second = _run(argv)
    rows, errors = _outcomes(db)
    return {"runs": [first, second], "rows": rows, "errors": errors, "folder": folder, "outside": outside,
            "images": images}


def test_copy_never_writes_through_a_link__file_link_planted_in_category_root(linked):
    assert [rc for rc, _ in linked["runs"]] == [0, 0]
    assert (linked["outside"] / "victim.jpg").read_bytes() == b"the victim's own bytes"
    copy = os.path.join(linked["folder"], "a.jpg")
    assert not os.path.islink(copy)
    assert open(copy, "rb").read() == (linked["images"] / "a.jpg").read_bytes()
    assert "a.jpg" in linked["rows"]


def test_copy_never_writes_through_a_link__folder_link_planted_in_category_root(linked):
    assert os.listdir(linked["outside"] / "trap") == []
    stage, code, message = linked["errors"]["sub/b.jpg"]
    assert (stage, code) == ("copy", "copy_failed") and "symbolic link" in message
    assert "sub/b.jpg" not in linked["rows"]


def test_symlinked_file_is_an_error_row_not_followed__link_out_of_the_input(linked):
    rows, errors = linked["rows"], linked["errors"]
    assert errors["link.jpg"][:2] == ("read", "symlink") and "not followed" in errors["link.jpg"][2]
    assert "link.jpg" not in rows
    assert not any(name.startswith("linkdir") for name in [*rows, *errors])
    private = (linked["outside"] / "private.jpg").read_bytes()
    for folder, _, files in os.walk(linked["images"] / "classified"):
        assert all(open(os.path.join(folder, f), "rb").read() != private for f in files)
    assert set(rows) | set(errors) == {"a.jpg", "sub/b.jpg", "link.jpg", ESCAPE_NAME}


def test_symlinks_are_counted_in_the_summary__folder_link(linked):
    _, out = linked["runs"][1]
    assert "1 symbolic links not followed" in out, out


def test_control_characters_are_escaped__summary_of_a_hostile_file_name(linked):
    _, out = linked["runs"][1]
    assert ESCAPE_NAME in linked["errors"]
    assert "\x1b" not in out and "\x07" not in out
    assert not any(line.startswith("Classified 999") for line in out.splitlines())
    assert "\\x1b]2;pwned\\x07\\x1b[2Jfake\\nClassified 999 images.jpg" in out


# ---- entries the listing cannot read ---------------------------------------------------

@pytest.fixture(scope="module")
def unreadable(model_dir):
    """A run the permission bits apply to. Root passes them by its capabilities
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so as root the job runs without those two
    (util-linux `setpriv`); the kernel then refuses it like any user. An unprivileged
    user runs it as itself."""
    base = tempfile.mkdtemp(prefix="unreadable-")
    try:
        images, private = os.path.join(base, "in"), os.path.join(base, "private")
        os.makedirs(os.path.join(images, "locked"))
        os.makedirs(private)
        cat = _cat()
        for rel in ("ok.jpg", "locked/x.jpg", "locked/y.jpg"):
            with open(os.path.join(images, rel), "wb") as f:
                f.write(cat)
        with open(os.path.join(private, "p.jpg"), "wb") as f:
            f.write(cat)
        os.symlink("self.jpg", os.path.join(images, "self.jpg"))          # a loop
        os.symlink("loop", os.path.join(images, "loop"))
        os.symlink(os.path.join(private, "p.jpg"), os.path.join(images, "nosearch.jpg"))
        os.chmod(private, 0o600)                                          # no search permission
        os.chmod(os.path.join(images, "locked"), 0o000)                   # no read permission
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
        proc = subprocess.run(
            [*drop, sys.executable, "-m", "pipeline", f"--input={images}", f"--category_root={base}/classified",
             f"--duckdb={base}/r.duckdb", FEATURES, f"--model_dir={model_dir}"],
            cwd=base, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=600)
        outcome = _outcomes(f"{base}/r.duckdb") if os.path.exists(f"{base}/r.duckdb") else ({}, {})
        yield proc, *outcome
    finally:
        os.chmod(os.path.join(base, "in", "locked"), 0o755)
        os.chmod(os.path.join(base, "private"), 0o755)
        shutil.rmtree(base)


def test_unreadable_entries_do_not_stop_the_job__loop_and_unsearchable_link(unreadable):
    proc, rows, errors = unreadable
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ok.jpg" in rows
    assert errors["self.jpg"][:2] == ("read", "symlink")
    assert errors["nosearch.jpg"][:2] == ("read", "symlink")
    assert "2 symbolic links not followed" not in proc.stdout   # loop (no image name) is the only counted one
    assert "1 symbolic links not followed" in proc.stdout, proc.stdout


def test_unreadable_folder_is_one_error_row__no_read_permission(unreadable):
    proc, rows, errors = unreadable
    stage, code, message = errors["locked"]
    assert (stage, code) == ("list", "unreadable_folder") and "PermissionError" in message
    assert set(rows) | set(errors) == {"ok.jpg", "locked", "self.jpg", "nosearch.jpg"}


# ---- a symlinked --input ----------------------------------------------------------------

def test_copies_are_not_classified_again__symlinked_input_with_category_root_in_its_target(tmp_path, model_dir):
    real, link, db = tmp_path / "real", tmp_path / "in", tmp_path / "r.duckdb"
    real.mkdir()
    (real / "a.jpg").write_bytes(_cat())
    os.symlink(real, link)
    argv = [f"--input={link}", f"--category_root={real / 'classified'}", f"--duckdb={db}", FEATURES,
            f"--model_dir={model_dir}"]
    for _ in range(3):
        rc, out = _run(argv)
        assert rc == 0 and out.startswith("Classified 1 images"), out
    rows, errors = _outcomes(db)
    assert set(rows) == {"a.jpg"} and not errors
    nested = [d for d, _, _ in os.walk(real / "classified") if "classified" in os.path.relpath(d, real / "classified")]
    assert nested == []


# ---- Ctrl-C in a backfill -------------------------------------------------------------------

def test_ctrl_c_stops_with_a_summary__backfill_interrupted_then_rerun(tmp_path, model_dir):
    images, classified, db = tmp_path / "in", tmp_path / "classified", tmp_path / "r.duckdb"
    cat = _cat()
    for i in range(200):
        (images / f"f{i // 50}").mkdir(parents=True, exist_ok=True)
        (images / f"f{i // 50}" / f"{i:03d}.jpg").write_bytes(cat)
    argv = [sys.executable, "-m", "pipeline", f"--input={images}", f"--category_root={classified}",
            f"--duckdb={db}", FEATURES, f"--model_dir={model_dir}"]
    env = dict(os.environ, PYTHONPATH=REPO)
    # As from a terminal: SIGINT at its default even when the tests themselves run in the background (`&`
    # leaves it ignored, and an ignored signal stays ignored in children).
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and _classified(db):   # the first rows are written
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the backfill ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert "Stopped by Ctrl-C" in err
    assert proc.returncode == 130
    assert out.startswith("Classified "), out
    written = sum(len(t) for t in _outcomes(db))
    assert f"tables classifications: {len(_outcomes(db)[0]):,} rows" in out
    assert 0 < written < 200
    rerun = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    rows, errors = _outcomes(db)
    assert len(rows) == 200 and not errors
    copies = [os.path.join(d, f) for d, _, files in os.walk(classified) for f in files]
    assert len(copies) == 200 and all(open(c, "rb").read() == cat for c in copies)
