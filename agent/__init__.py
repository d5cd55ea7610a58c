"""The interviewer application: composition root (config, brain, flow graph, storage, CLI)."""

__version__ = "0.1.0"
