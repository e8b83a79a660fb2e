"""Entry point: ``python -m broker.demo.railway --port P --key-env NAME``."""

from broker.demo.railway.cli import main

raise SystemExit(main())
