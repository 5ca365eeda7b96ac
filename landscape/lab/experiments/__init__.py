"""Built-in experiments, one module per research question.

Each module defines ``EXPERIMENT`` (a :class:`landscape.lab.config.Experiment`): the question,
a default and a smoke config, and ``run(config, results, progress)`` that only calls the
library. They live inside the package so that ``landscape run NAME`` works from any install.
"""
