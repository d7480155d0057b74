"""Payments: the provider's client, the gateway the workers charge through, and the simulator."""
