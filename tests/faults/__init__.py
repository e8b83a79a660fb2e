"""Fault injection against real processes: each test injects one fault and checks both
safety (nothing lost, nothing forwarded unaudited) and availability (unaffected work
keeps its latency within a stated bound). Run alone with ``pytest -m faults``."""
