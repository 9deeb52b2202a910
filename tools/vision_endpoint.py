"""A Vision-compatible endpoint on this machine: `POST /v1/images:annotate`.

It answers with the local backend's models, so curl, the google-cloud-vision
client and seed-style JSON requests work offline, and the pipeline's
`--backend=vision` can run end to end with no cloud account:

    python -m tools.vision_endpoint --port 8080
    python -m pipeline --input=DIR --backend=vision --vision_endpoint=http://127.0.0.1:8080

For tests and benchmarks it can misbehave the way the real API does: a request
quota (a token bucket or a per-minute-style window, see tools/vision_quota.py;
429 beyond it, with or without Retry-After), 5xx answers, slow answers, dropped
connections, invalid JSON and per-image errors. The switches are command-line
flags (tools/vision_faults.py). With `--enable_control` they can be changed while
it runs (`POST /control/faults` with a JSON object of the same names, sent as
`application/json`; a bad value refuses the whole update), `GET /control/stats`
reports what it served and `POST /control/reset` goes back to the flags' switches
with no calls counted; without the flag those routes do not exist.

It binds to 127.0.0.1 by default and refuses any address other machines could
reach (0.0.0.0, a LAN address, a host name that is not loopback) unless
`--allow_remote` is given: it has no authentication. It answers only requests
whose Host header names its own address (no DNS rebinding), gives each request
`--read_timeout_secs` to arrive whole, serves `--max_connections` at once, and
reads gs:// through a storage emulator only unless `--allow_cloud_storage`.
The HTTP side is tools/vision_http.py; request bodies are checked by
tools/vision_requests.py (400 for any bad shape).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import time

from pipeline.settings import REPO_ROOT
from tools.child_process import stop
from tools.loopback import refuse_remote
from tools.vision_faults import FAULT_DEFAULTS, checked
from tools.vision_http import ANNOTATE_PATH, MAX_BODY_BYTES, MAX_CONNECTIONS, READ_TIMEOUT_SECS, make_server
from tools.vision_service import VisionService
from transforms.stages.local.handler import default_threads

__all__ = ["ANNOTATE_PATH", "MAX_BODY_BYTES", "check_host", "control", "main", "make_server", "running_endpoint"]


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless the user asked for it explicitly."""
    refuse_remote(host, allow_remote, "this endpoint has no authentication (anyone could send images or "
                  "switch faults on)")


@contextlib.contextmanager
def running_endpoint(*args: str, env: dict[str, str | None] | None = None, timeout: float = 60.0):
    """Start `python -m tools.vision_endpoint ARGS` on a free loopback port; yields its URL.

    For tests and benchmarks: a real process speaking real HTTP. It fails (never
    skips) when the endpoint does not come up.
    """
    import subprocess
    import tempfile
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix="vision-endpoint-", suffix=".log", delete=False)
    environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}   # None: unset
    proc = subprocess.Popen([sys.executable, "-m", "tools.vision_endpoint", "--port", str(port), *args],
                            stdout=log, stderr=subprocess.STDOUT, env=environ)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Vision endpoint exited with {proc.returncode}: "
                                   f"{open(log.name).read()[-2000:]}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the Vision endpoint did not answer in {timeout} s") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(proc)


def control(url: str, path: str, payload: dict | None = None) -> dict:
    """GET (payload None) or POST a JSON payload to one of the endpoint's /control/ paths."""
    import urllib.request
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(f"{url}/control/{path}", data=data, method="GET" if data is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _flag(text: str) -> bool:
    """argparse's type=bool takes any non-empty text for True; this reads true/false/1/0."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.vision_endpoint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless --allow_remote)")
    parser.add_argument("--allow_remote", action="store_true",
                        help="allow a --host other machines can reach (no authentication: use with care)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--enable_control", action="store_true",
                        help="serve the /control/ routes (fault switches, stats, reset) for tests and benchmarks")
    parser.add_argument("--allow_cloud_storage", action="store_true",
                        help="read gs:// URIs from Cloud Storage with this machine's credentials (without it, "
                             "gs:// is read only through STORAGE_EMULATOR_HOST)")
    parser.add_argument("--read_timeout_secs", type=float, default=READ_TIMEOUT_SECS,
                        help="longest time to receive one whole request, or to wait idle for the next")
    parser.add_argument("--max_connections", type=int, default=MAX_CONNECTIONS,
                        help="connections served at once; more are answered 503 and closed")
    parser.add_argument("--model_dir", default=os.environ.get("IMAGE_CLASSIFIER_MODEL_DIR")
                        or os.path.join(REPO_ROOT, "models"))
    parser.add_argument("--features", default="LABEL_DETECTION,SAFE_SEARCH_DETECTION",
                        help="features the local models serve (others are answered empty)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = the CPUs)")
    parser.add_argument("--fixed_labels", action="store_true",
                        help="answer every image with one fixed label and no models (quota benchmarks)")
    for name, default in FAULT_DEFAULTS.items():
        if isinstance(default, bool):   # --quota_retry_after=false: a bare 429, as some quotas answer
            parser.add_argument(f"--{name}", type=_flag, default=default, metavar="true|false")
        elif not isinstance(default, dict):
            parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--image_errors", type=json.loads, default={},
                        help='JSON {"<sha256 of the bytes or the URI>": {"code": 3, "message": "..."}}')
    parser.add_argument("--recorded_answers", type=json.loads, default={},
                        help='JSON {"<sha256 of the bytes>": <a recorded AnnotateImageResponse>}')
    args = parser.parse_args(argv)
    if not 0 < args.read_timeout_secs <= 3600 or not 0 < args.max_connections <= 10_000:
        parser.error("--read_timeout_secs must be above 0 (at most 3600) and --max_connections 1 to 10,000")
    try:
        check_host(args.host, args.allow_remote)
        faults = checked({k: getattr(args, k) for k in FAULT_DEFAULTS}, FAULT_DEFAULTS)
    except ValueError as e:
        parser.error(str(e))
    service = VisionService(args.model_dir, [f for f in args.features.split(",") if f], args.threads or
                            default_threads(), args.fixed_labels, faults, args.allow_cloud_storage)
    server = make_server(args.host, args.port, service, args.enable_control, args.read_timeout_secs,
                         args.max_connections)
    print(f"Vision-compatible endpoint on http://{args.host}:{server.server_address[1]}{ANNOTATE_PATH}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
