"""Kept for one release: an `invorder serve` started before the upgrade loads its new processes
from here on SIGHUP. Remove in the next release (the code lives in invorder.processes.serve)."""

from invorder.processes.serve import create_served_app

__all__ = ["create_served_app"]
