"""Benchmarks: what the models cost, how fast they train and stream, how much memory they take.

``python scripts/benchmark.py --out DIR`` is the all-in-one run (:mod:`har_tf.benchmarks.all_in_one`);
``--suite NAME`` runs one detailed suite. Each suite is ``suite_<name>(args, machine) -> (result,
markdown)``, registered in :data:`har_tf.benchmarks.suites.SUITES`. Modules:

- :mod:`~har_tf.benchmarks.machine`: the machine block (CPU, cores, load, versions, date);
- :mod:`~har_tf.benchmarks.timing`: timed calls (median, p95) under a time cap, section stopwatch;
- :mod:`~har_tf.benchmarks.report`: Markdown tables and number formats, atomic text files;
- :mod:`~har_tf.benchmarks.models`: the fresh (untrained, seeded) models of the latency table, their FLOPs;
- :mod:`~har_tf.benchmarks.cost`: factorized vs full attention vs LSTM (suite ``cost``);
- :mod:`~har_tf.benchmarks.fusion`: image backbones and the stage-2 feature cache (suite ``fusion``);
- :mod:`~har_tf.benchmarks.export`: SavedModel and TFLite exports (suite ``export``; untrained latency);
- :mod:`~har_tf.benchmarks.streaming`: the streaming recogniser on real clips (suite ``streaming``);
- :mod:`~har_tf.benchmarks.modalities`: each modality and its fusion with the skeleton on a real
  multimodal set, over seeds (suite ``modalities``);
- :mod:`~har_tf.benchmarks.training`: stage-1 and stage-2 training throughput;
- :mod:`~har_tf.benchmarks.memory`: jobs run in a fresh child process, their peak RSS;
- :mod:`~har_tf.benchmarks.plots`: the PNG figures;
- :mod:`~har_tf.benchmarks.all_in_one`: everything above in one run of under 10 minutes (2 cores);
- :mod:`~har_tf.benchmarks.suites`: the suite registry.
"""
