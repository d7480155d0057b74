"""Orders: placement (API side) and processing steps (worker side), as a small state machine."""
