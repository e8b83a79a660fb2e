"""The verifying gateway: verify -> canonicalise -> classify -> resolve -> authorize -> forward.

Pure decisions live in ``decide``; everything else is the I/O around them.
"""
