"""The demo: a Railway-style provider and the incident replay (`capbroker demo`)."""
