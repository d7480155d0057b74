"""Orders: placing, reading and cancelling (API side), processing (worker side), a small state machine."""
