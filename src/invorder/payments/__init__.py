"""Payments: the async client the workers call and the simulator standing for the external provider."""
