"""The ``capbroker`` command."""
