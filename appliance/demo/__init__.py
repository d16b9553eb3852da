"""`appliance demo` and the fictional corpus it ingests."""

from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
"""The fictional corpus: its documents/ folder and expectations.json, what each document plants."""
