"""Loaded by every Python subprocess a test starts (cli_env puts this folder on PYTHONPATH): the egress guard.

Blocked attempts are appended, with the process id, to the file named by EGRESS_GUARD_LOG; the
test that started the subprocess fails on them (tests/conftest.py, fixture no_egress).
"""

import os

_LOG = os.environ.get("EGRESS_GUARD_LOG")
if _LOG:
    import egress_guard

    def _append(line: str, log: str = _LOG) -> None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"pid {os.getpid()}: {line}\n")

    egress_guard.install(_append)
