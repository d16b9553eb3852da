"""The one place that switches every library to offline, no-telemetry mode.

Called by every entry point (the CLI, `build()`, the test suite) before any heavy
library is imported: several of them read these variables once, at import time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from appliance.file_modes import make_private_home

# Values forced on every run: each closes a known way a library reaches the internet.
OFFLINE_SWITCHES: Mapping[str, str] = MappingProxyType(
    {
        "HF_HUB_OFFLINE": "1",  # Hugging Face hub: never download models or tokenizers
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",  # Presidio's e-mail recognizer -> tldextract
        "ANONYMIZED_TELEMETRY": "False",  # Chroma
        "CHROMA_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_RUN_HISTORY": "False",
        "GRADIO_CHECK_UPDATES": "False",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONNOUSERSITE": "1",
        # Quiet, not offline: keep library progress bars and advisories out of our output.
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
    }
)


def cache_locations(home: Path) -> dict[str, str]:
    """Library cache variables, all pointed under APPLIANCE_HOME/cache."""
    cache = home / "cache"
    return {
        "XDG_CACHE_HOME": str(cache),
        "HF_HOME": str(cache / "huggingface"),
        "SENTENCE_TRANSFORMERS_HOME": str(cache / "sentence_transformers"),
        "TORCH_HOME": str(cache / "torch"),
        "TLDEXTRACT_CACHE": str(cache / "tldextract"),
        "MPLCONFIGDIR": str(cache / "matplotlib"),
        "NUMBA_CACHE_DIR": str(cache / "numba"),
        "GRADIO_TEMP_DIR": str(home / "tmp" / "gradio"),
        "TMPDIR": str(home / "tmp"),
    }


def thread_limits(threads: int) -> dict[str, str]:
    """Thread-pool sizes of the numeric libraries, from the one `runtime.threads` setting."""
    value = str(threads)
    return {
        "OMP_NUM_THREADS": value,
        "MKL_NUM_THREADS": value,
        "OPENBLAS_NUM_THREADS": value,
    }


def apply_offline_environment(home: Path, threads: int | None = None) -> None:
    """Set the offline switches, caches under `home` (made owner-only if new) and thread limits; idempotent."""
    make_private_home(home)
    os.environ.update(OFFLINE_SWITCHES)
    os.environ.update(cache_locations(home))
    if threads is not None:
        os.environ.update(thread_limits(threads))
    for folder in ("cache", "tmp"):
        (home / folder).mkdir(parents=True, exist_ok=True, mode=0o700)
