"""Entry point: ``python -m broker.demo.provider --port P --key-env NAME``."""

from broker.demo.provider.cli import main

raise SystemExit(main())
