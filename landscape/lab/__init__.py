"""The application layer: results folders, the experiment registry, sweeps, reports, the CLI.

The library (everything outside ``landscape.lab``) never imports this package; it imports
the library. Import its modules directly::

    from landscape.lab import store        # results folders (ResultsDir, atomic writes)
    from landscape.lab import resumable    # training a plan chunk by chunk through a folder
    from landscape.lab import team         # several processes sharing a folder (shares, heartbeats)
    from landscape.lab import experiment   # the registry of built-in experiments, configs, runner
    from landscape.lab import sweep        # one run per point of a grid of config values
    from landscape.lab import report       # report.html of a results (or sweep) folder
    from landscape.lab import cli          # the ``landscape`` command

``config`` holds what an experiment module defines (``Experiment``, ``require_counts``,
``require_positive``); ``experiments/`` the built-in experiments, one module per question.
"""
