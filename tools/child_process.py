"""Stopping a local stand-in started as a child process (the endpoint, the rate limit service, the emulators)."""
from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, grace_secs: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace_secs`; a no-op once it has exited."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_secs)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
