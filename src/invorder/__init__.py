"""invorder: inventory and orders, with a job queue that lives in PostgreSQL."""

__version__ = "0.1.0"
