"""``python -m landscape`` is the ``landscape`` command (:mod:`landscape.lab.cli`)."""

from .lab.cli import main

raise SystemExit(main())
