"""What the tests share: real processes, private servers, hand-made rows, and the invariants checked in SQL."""
