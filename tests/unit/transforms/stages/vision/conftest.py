"""The project's Vision endpoint in-process (fixed answers, no models), for the call-path tests."""
import threading

import pytest

from tools.vision_endpoint import make_server
from tools.vision_service import VisionService


@pytest.fixture(scope="module")
def endpoint():
    """(VisionService, its http:// URL); one server per test module."""
    service = VisionService(None, (), 1, fixed_labels=True, faults={})
    server = make_server("127.0.0.1", 0, service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield service, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
