"""How each process starts: the API server with rolling restarts, `invorder dev`'s tree, the worker."""
