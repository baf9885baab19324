"""Callbacks that Keras does not ship and stage 1 needs."""

from __future__ import annotations

import shutil
import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops training once ``minutes`` of wall-clock time have passed since ``fit`` started.

    Checked after every batch, so a slow model overshoots by at most one batch plus the
    validation of the epoch it stops in (which still runs, so checkpoints see it).
    ``stopped_epoch`` is the 1-based epoch it stopped in, ``None`` when the budget was not reached.
    """

    def __init__(self, minutes: float):
        super().__init__()
        if not minutes > 0:
            raise ValueError(f"time budget must be a positive number of minutes, got {minutes!r}")
        self.seconds = 60.0 * float(minutes)
        self.stopped_epoch: int | None = None
        self._start = 0.0
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self.stopped_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stopped_epoch is None and time.perf_counter() - self._start >= self.seconds:
            self.stopped_epoch = self._epoch + 1
            self.model.stop_training = True


class EpochTimes(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation), in ``seconds``."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


class SafeBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that survives a kill in the middle of its own save.

    It keeps the two latest states (``double_checkpoint``): when the newest weights file was cut short
    by the kill, the previous one is restored. When no readable state is left (a kill during the very
    first save), it says so and trains from the start instead of failing.
    """

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, double_checkpoint=True)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except OSError as err:
            print(f"warning: the training backup in {self.backup_dir} is unreadable ({err}); training from the start",
                  flush=True)  # fmt: skip
            shutil.rmtree(self.backup_dir, ignore_errors=True)
