"""Built-in experiments, one module per research question (installed as ``landscape.experiments``).

Each module defines ``EXPERIMENT``; see ``experiments/README.md`` for the question -> file map.
"""
