"""Which addresses the local stand-ins (tools/vision_endpoint.py, tools/rate_limit_service.py) may bind.

They have no authentication and exist for tests on one machine, so they bind
to loopback unless asked otherwise in so many words (`--allow_remote`).
"""
from __future__ import annotations

import ipaddress
import socket


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def refuse_remote(host: str, allow_remote: bool, why: str) -> None:
    """ValueError for a bind address other machines could reach, unless the user asked for it explicitly."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(f"--host={host} would accept connections from other machines, and {why}; "
                         "use the default 127.0.0.1, or pass --allow_remote if that is really intended")
