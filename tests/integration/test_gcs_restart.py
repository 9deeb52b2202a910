"""The GCS stand-in stops and comes back during a backfill: nothing is lost."""
import os
import subprocess
import sys
import time

import duckdb

from tests import emulators
from tools.samples import jpeg_bytes, sample_photos

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
N = 120


def test_backfill_survives_storage_restart__every_image_once(tmp_path, model_dir):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    port = emulators.free_port()
    workdir = str(tmp_path)
    photo = jpeg_bytes(sample_photos()["chelsea"])
    env = dict(os.environ, STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}", NO_GCE_CHECK="true",
               GOOGLE_CLOUD_PROJECT=emulators.PROJECT)
    with emulators.fake_gcs(workdir, port=port) as (url, root):
        client = storage.Client(project=emulators.PROJECT, credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": url})
        bucket = client.create_bucket("restart-photos")
        for i in range(N):
            bucket.blob(f"in/{i:03d}.jpg").upload_from_string(photo)
        db = tmp_path / "r.duckdb"
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "--input=gs://restart-photos/in",
             "--category_root=gs://restart-photos/classified", f"--duckdb={db}", f"--model_dir={model_dir}",
             "--features=LABEL_DETECTION"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)
        # Stop the stand-in as soon as the job starts writing copies: mid-run by construction.
        copies_dir = os.path.join(root, "restart-photos", "classified")
        deadline = time.monotonic() + 120
        while not os.path.exists(copies_dir) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the job ended before the outage: make the corpus bigger"
    # The stand-in is down here for a few seconds, then comes back with the same objects.
    time.sleep(3.0)
    with emulators.fake_gcs(workdir, port=port):
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
        copies = list(client.list_blobs("restart-photos", prefix="classified/"))
    con = duckdb.connect(str(db), read_only=True)
    names = [r[0] for r in con.execute("SELECT name FROM classifications").fetchall()]
    errors = con.execute("SELECT name, code, message FROM errors").fetchall()
    con.close()
    assert sorted(names + [e[0] for e in errors]) == sorted(f"in/{i:03d}.jpg" for i in range(N)), out
    assert len(set(names)) == len(names)
    assert errors == [], errors       # transient outage: retried, not turned into errors
    assert len(copies) == N
