"""Running strategies on streams and keeping what they produce: ``run`` (one run), ``compare`` (a grid
of runs into a result store), the store, checkpoints and the executors. ``lifelong.run`` and
``lifelong.RunResult`` are the public entry points; this package imports nothing itself, so the Ray
executor's store owner can import ``lifelong.experiment.store`` without torch."""
