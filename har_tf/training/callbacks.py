"""Callbacks that Keras does not ship and stage 1 needs."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import keras

from har_tf.errors import OutputError
from har_tf.io import MIN_FREE_BYTES, save_weights_atomic, write_text_atomic, writing


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
    """``BackupAndRestore`` whose backup survives a kill or a full disk in the middle of its own save.

    Each epoch's state is written as ``epoch-<N>.weights.h5`` through a temporary file and a rename,
    then ``training_metadata.json`` (also renamed into place) names it and the state before it; only
    then is the older file removed. So the metadata always names whole files: a failed save leaves
    the previous good backup in place. Before saving it checks the disk has room for one more state
    (else one :class:`~har_tf.io.OutputError` line: free space and rerun to resume). On resume, a
    damaged newest state is reported and the previous one restored; when none is readable it says
    so and trains from the start, never failing on the backup.
    """

    METADATA = "training_metadata.json"

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, double_checkpoint=False)
        self._folder = Path(backup_dir)

    # --- resuming -------------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        if not self.model.built:
            raise ValueError(f"BackupAndRestore needs a built model before fit(); {self.model} is not built")
        if not self._folder.is_dir():
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        variables = list(self.model.weights) + list(getattr(self.model.optimizer, "variables", []) or [])
        initial = [keras.ops.convert_to_numpy(v) for v in variables]
        damaged = []
        for state in self._states():
            try:
                self.model.load_weights(self._folder / state["weights"])
            except Exception as err:  # noqa: BLE001 - a damaged file raises what h5py or Keras finds
                damaged.append(f"{state['weights']} ({_first_line(err)})")
                for variable, value in zip(variables, initial):
                    variable.assign(value)
                continue
            self.model._initial_epoch = int(state["epoch"])
            if damaged:
                print(
                    f"warning: the training backup {', '.join(damaged)} in {self._folder} is unreadable; resuming "
                    f"from the previous state (epoch {state['epoch']})",
                    flush=True,
                )
            return
        if damaged or self._unreadable:
            what = ", ".join(damaged) or self._unreadable
            print(
                f"warning: the training backup in {self._folder} is unreadable ({what}); training from the start",
                flush=True,
            )
        self.model._initial_epoch = 0
        shutil.rmtree(self._folder, ignore_errors=True)

    def _states(self) -> list[dict]:
        """The saved states, newest first, each ``{"epoch", "weights"}``; ``_unreadable`` says why none when
        the metadata is damaged."""
        self._unreadable = ""
        path = self._folder / self.METADATA
        if not path.is_file():
            self._unreadable = "no metadata" if any(self._folder.glob("*.weights.h5")) else ""
            return []
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            states = [{"epoch": int(meta["epoch"]), "weights": str(meta.get("weights", "latest.weights.h5"))}]
            previous = meta.get("previous")
            if previous:
                states.append({"epoch": int(previous["epoch"]), "weights": str(previous["weights"])})
        except (OSError, ValueError, KeyError, TypeError) as err:
            self._unreadable = f"{self.METADATA}: {_first_line(err)}"
            return []
        return [s for s in states if Path(s["weights"]).name == s["weights"]]  # a file of this folder, no path

    # --- saving ---------------------------------------------------------------------------------------
    def _save_model(self):
        self._folder.mkdir(parents=True, exist_ok=True)
        states = self._states()
        files = [self._folder / s["weights"] for s in states]
        sizes = [f.stat().st_size for f in files if f.is_file()]
        need = max(sizes, default=0) + MIN_FREE_BYTES
        free = shutil.disk_usage(self._folder).free
        if free < need:
            raise OutputError(
                f"cannot write the training backup in {self._folder}: {free / 2**20:.1f} MiB free, about "
                f"{need / 2**20:.1f} MiB needed; the previous backup is kept: free some space and rerun "
                "the same command to resume"
            )
        name = f"epoch-{self._current_epoch:05d}.weights.h5"
        save_weights_atomic(self.model, self._folder / name)
        meta = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        if states and states[0]["weights"] != name:
            meta["previous"] = states[0]
        write_text_atomic(self._folder / self.METADATA, json.dumps(meta))
        keep = {name, meta.get("previous", {}).get("weights")}
        for old in self._folder.glob("*.weights.h5"):
            if old.name not in keep:
                old.unlink(missing_ok=True)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:200]


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """``ModelCheckpoint`` (one fixed ``.keras`` file) written through a temporary file and a rename: a kill
    or a full disk while it saves leaves the previous checkpoint whole, and a failed write is one
    :class:`~har_tf.io.OutputError` line."""

    def __init__(self, filepath: str | os.PathLike, **kwargs):
        self._final = Path(filepath)
        self._partial = self._final.with_name(f".{self._final.stem}.partial{self._final.suffix}")
        super().__init__(str(self._partial), **kwargs)

    def _save_model(self, epoch, batch, logs):
        self._partial.unlink(missing_ok=True)
        try:
            with writing(self._final, "model checkpoint"):
                super()._save_model(epoch, batch, logs)
                if self._partial.exists():
                    os.replace(self._partial, self._final)
        finally:
            self._partial.unlink(missing_ok=True)
