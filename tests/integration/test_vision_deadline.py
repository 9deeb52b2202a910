"""--vision_call_deadline_secs bounds each Vision call attempt as a whole: against a real HTTP server
that answers one byte at a time, every image ends as an `annotate` error row and the job finishes."""
import subprocess
import sys

import duckdb
from PIL import Image

from tests.drip_server import drip_server


def test_every_image_is_an_error_row__endpoint_dripping_its_answer(tmp_path, model_dir):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (32, 32), (40 * i, 90, 160)).save(images / f"p{i}.jpg", "JPEG")
    db = tmp_path / "r.duckdb"
    with drip_server(interval=0.2) as server:
        try:
            run = subprocess.run([sys.executable, "-m", "pipeline", f"--input={images}", "--backend=vision",
                                  f"--vision_endpoint={server.url}", "--vision_call_deadline_secs=1",
                                  "--features=LABEL_DETECTION", f"--duckdb={db}",
                                  f"--category_root={tmp_path / 'classified'}", f"--model_dir={model_dir}"],
                                 capture_output=True, text=True, timeout=240)
        except subprocess.TimeoutExpired:
            raise AssertionError("the job was still waiting for the dripping answer") from None
        attempts = server.requests
    assert run.returncode == 0, run.stderr[-2000:]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT count(*) FROM classifications").fetchone()[0]
    errors = con.execute("SELECT name, stage, code, attempts, message FROM errors ORDER BY name").fetchall()
    con.close()
    assert rows == 0 and [e[:4] for e in errors] == [(f"p{i}.jpg", "annotate", "DEADLINE_EXCEEDED", 6)
                                                     for i in range(3)]
    assert all("call deadline of 1 s" in e[4] for e in errors) and attempts == 6
