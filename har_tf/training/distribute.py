"""Training on several devices or machines through ``tf.distribute``.

``--strategy`` (``TrainConfig.strategy``):

- ``default``: one device (the first GPU TensorFlow sees, else the CPU); ``model.fit``.
- ``mirrored``: every GPU of this machine (``MirroredStrategy``); ``model.fit`` under the strategy's
  scope, the global batch = ``batch_size`` x replicas.
- ``multiworker``: several machines (``MultiWorkerMirroredStrategy``, the cluster from ``TF_CONFIG``).
  Keras 3's ``model.fit`` does not run under this strategy (keras-team/keras#20585), so
  :func:`fit_multiworker` trains with a custom loop: each worker reads its own shard of the data
  (``distribute_datasets_from_function``), gradients are summed across workers by the optimizer,
  and every worker ends with the same weights.
- ``tpu``: a Cloud TPU (``TPUStrategy`` with ``TPUClusterResolver``); ``model.fit`` under its scope.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from har_tf.errors import InvalidInputError

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")


def check_tf_config(environ=os.environ) -> dict:
    """The parsed ``TF_CONFIG`` of a multi-worker run, with a clear error when it is missing or malformed."""
    text = environ.get("TF_CONFIG")
    if not text:
        raise InvalidInputError(
            "strategy 'multiworker' needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
            '"index": 0}} on the first machine (index 1 on the second); see docs/distributed.md'
        )
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise InvalidInputError(
            f"TF_CONFIG is not a valid cluster description ({err!r}): expected "
            '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": N}}'
        ) from None
    if not isinstance(workers, list) or not workers or not 0 <= index < len(workers):
        raise InvalidInputError(f"TF_CONFIG: task index {index} is not one of the {len(workers)} workers {workers}")
    return config


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (one of :data:`STRATEGIES`)."""
    if name not in STRATEGIES:
        raise InvalidInputError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise InvalidInputError(
            f"strategy 'tpu': no TPU found ({str(err).splitlines()[0]}); run on a TPU VM or set TPU_NAME"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def worker_index(strategy: tf.distribute.Strategy) -> int:
    """This machine's index in a multi-worker cluster (0, the chief, elsewhere)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task = getattr(resolver, "task_id", None)
    return int(task) if task is not None else 0


def fit_multiworker(
    strategy: tf.distribute.Strategy,
    build: Callable[[], tuple],
    make_dataset: Callable,
    epochs: int,
    steps_per_epoch: int,
    global_batch_size: int,
    history_csv: Path | None = None,
    verbose: bool = True,
) -> tuple:
    """Train with a custom loop under ``strategy``; returns one ``{"epoch", "loss", "seconds"}`` per epoch.

    Args:
        build: called under the strategy's scope, returns ``(model, optimizer, per_example_loss)``
            (the loss with ``reduction=None``, taking ``(targets, predictions)``).
        make_dataset: ``(shards, shard_index, per_replica_batch) -> tf.data.Dataset`` of
            ``(inputs, targets)``; it must repeat and drop remainders (every replica steps together).
        steps_per_epoch: global steps per epoch (each step reads ``global_batch_size`` examples).
    """
    with strategy.scope():
        model, optimizer, per_example_loss = build()

    def input_fn(context: tf.distribute.InputContext):
        return make_dataset(
            context.num_input_pipelines,
            context.input_pipeline_id,
            context.get_per_replica_batch_size(global_batch_size),
        )

    batches = iter(strategy.distribute_datasets_from_function(input_fn))

    @tf.function
    def train_step(iterator):
        def replica_step(inputs, targets):
            with tf.GradientTape() as tape:
                predictions = model(inputs, training=True)
                loss = tf.nn.compute_average_loss(
                    per_example_loss(targets, predictions), global_batch_size=global_batch_size
                )
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))  # summed across replicas
            return loss

        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=next(iterator)), axis=None)

    history = []
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        for _ in range(steps_per_epoch):
            total += float(train_step(batches))
        row = {"epoch": epoch, "loss": total / steps_per_epoch}
        history.append(row)
        if verbose:
            print(
                f"epoch {epoch + 1}/{epochs}: loss {row['loss']:.4f} ({time.perf_counter() - start:.1f} s)",
                file=sys.stdout,
                flush=True,
            )
        if history_csv is not None:
            with open(history_csv, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=["epoch", "loss"])
                writer.writeheader()
                writer.writerows(history)
    return model, history
