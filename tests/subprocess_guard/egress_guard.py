"""The test egress guard: socket connects and name look-ups allowed to loopback and Unix sockets only.

The test process installs it from conftest.py; every Python subprocess a test starts through
`cli_env` installs it from this folder's sitecustomize.py and writes what it blocked to the file
the parent names, so a CLI or `serve` subprocess cannot reach outside unnoticed either.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

ATTEMPTS: list[str] = []
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_real_gethostbyname = socket.gethostbyname
_report: Callable[[str], None] = lambda _line: None  # noqa: E731


class EgressBlocked(OSError):
    """Raised in place of a connection to anything but loopback."""


def _blocked(line: str) -> None:
    ATTEMPTS.append(line)
    _report(line)


def _is_loopback_host(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in {"localhost", "localhost.localdomain", ""}:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check_address(family: int, address: object) -> None:
    if family == getattr(socket, "AF_UNIX", -1):
        return
    host = address[0] if isinstance(address, tuple) and address else address
    if not _is_loopback_host(host):
        _blocked(f"connect {address!r}")
        raise EgressBlocked(f"egress blocked by the test guard: {address!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check_address(self.family, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check_address(self.family, address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    if host is not None and not _is_loopback_host(host if not isinstance(host, bytes) else host.decode()):
        _blocked(f"resolve {host!r}")
        raise EgressBlocked(f"name resolution blocked by the test guard: {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


def _guarded_gethostbyname(host: str) -> str:
    if not _is_loopback_host(host):
        _blocked(f"resolve {host!r}")
        raise EgressBlocked(f"name resolution blocked by the test guard: {host!r}")
    return _real_gethostbyname(host)


def install(report: Callable[[str], None] | None = None) -> None:
    """Replace connect and name resolution for the whole process; `report` also hears each blocked attempt."""
    global _report
    if report is not None:
        _report = report
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
    socket.gethostbyname = _guarded_gethostbyname  # type: ignore[assignment]
