"""``python -m landscape`` is the ``landscape`` command."""

from .cli import main

raise SystemExit(main())
