"""QueueIT server: the backend of a collaborative party music queue."""

__version__ = "0.1.0"
