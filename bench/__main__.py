"""Entry point: ``python -m bench [--quick] [--scenario NAME]``."""

from bench.cli import main

raise SystemExit(main())
