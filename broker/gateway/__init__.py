"""The verifying gateway: ``pipeline.run`` takes a plain request through headers -> route ->
authenticate -> framing -> classify/resolve -> decide and record -> forward; ``app`` is
its ASGI front end.

Pure decisions live in ``decide`` and ``headers``; everything else is the I/O around them.
"""
