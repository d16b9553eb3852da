"""Owner-only state: a new home is 0700 whatever the umask, and exposed state is reported by path."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.file_modes import exposure_warnings, make_private_home


def test_a_new_home_is_owner_only_even_under_a_loose_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        home = tmp_path / "a" / "home"
        make_private_home(home)
    finally:
        os.umask(previous)
    assert home.stat().st_mode & 0o777 == 0o700


def test_state_others_may_read_is_named_with_its_mode(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_private_home(home)
    (home / "private.db").write_text("x")
    (home / "private.db").chmod(0o600)
    assert exposure_warnings(home) == []
    loose = home / "chroma" / "chroma.sqlite3"
    loose.parent.mkdir(mode=0o700)
    loose.write_text("x")
    loose.chmod(0o644)
    (home / "link").symlink_to(loose)  # a link's own mode means nothing; its target is reported
    lines = exposure_warnings(home)
    assert lines[0] == f"{loose} is readable by other local accounts (mode 0644)"
    assert lines[-1] == f"to make APPLIANCE_HOME owner-only: chmod -R go-rwx {home}"
    assert len(lines) == 2
    home.chmod(0o755)
    assert f"{home} is readable by other local accounts (mode 0755)" in exposure_warnings(home)
