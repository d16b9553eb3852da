"""Privacy-first on-prem document appliance: the core, its settings, ports and wiring."""

__version__ = "0.1.0"
