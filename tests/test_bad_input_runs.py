"""The bad-input table of the commands and their run folders: every output path is checked before the
work (one ``error:`` line, exit 2, nothing written), arguments are checked when given, a write that
fails later (full disk, read-only place) is one line and leaves no partial file, a run folder takes
one run at a time, a damaged training backup is reported and never fatal, and a signal ends a
command with ``interrupted``. The scripts' ``main`` functions run in-process through ``run_cli``."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import har_tf.io as har_io
from har_tf.cli import Interrupted, run_cli
from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import HARError, InvalidInputError, OutputError, RunFolderBusyError
from har_tf.io import atomic_write, check_output_dir, check_output_file, run_folder_lock, save_keras_atomic
from har_tf.training.callbacks import SafeBackupAndRestore
from har_tf.training.config import load_train_config
from har_tf.training.reports import plot_history_if_readable
from har_tf.training.stage1 import stage1_finished
from tests.helpers import EXPORT_CLASSES, REPO_ROOT, export_inputs

_SCRIPTS: dict = {}


def _main(script: str):
    if script not in _SCRIPTS:
        spec = importlib.util.spec_from_file_location(f"{script}_script_runs", REPO_ROOT / "scripts" / f"{script}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _SCRIPTS[script] = module.main
    return _SCRIPTS[script]


def _run(script: str, argv: list[str], capsys) -> tuple[int, str]:
    main = _main(script)
    with pytest.raises(SystemExit) as done:
        run_cli(lambda: main(argv))
    return done.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """A folder with a file, a folder, a two-class and a one-class dataset, and a stand-in model file."""
    root = tmp_path_factory.mktemp("runs")
    (root / "afile").write_text("not a folder")
    (root / "adir").mkdir()
    (root / "adir.mp4").mkdir()
    (root / "model.keras").write_text("never read: the arguments fail first")
    (root / "video.mp4").write_bytes(b"never read")
    (root / "videos").mkdir()
    clips = export_inputs(n=8, seed=5, frames=False)["pose"]
    one = PoseDataset(clips[:4], [0] * 4, ["walk"], "coco17", x_test=clips[4:], y_test=[0] * 4)
    one.save(root / "one_class.npz")
    for name, text in (
        ("augment_list.yaml", "augment: [1, 2]\n"),
        ("streams_map.yaml", "streams: {joints: 1}\n"),
        ("top_list.yaml", "- epochs\n- 3\n"),
        ("preset_list.json", '{"preset": ["micro"]}'),
        ("augment_key.yaml", "augment: {flip_prob: [1]}\n"),
    ):
        (root / name).write_text(text)
    return root


def P(name: str) -> str:  # noqa: N802 - a placeholder filled with the fixture's folder
    return "{root}/" + name


# (script, arguments, text of the one error line)
CASES = {
    # train.py: output places, arguments and settings, before any data is loaded
    "train --out is a file": ("train", ["--out", P("afile")], "is an existing file; expected a folder"),
    "train --out under a file": ("train", ["--out", P("afile/run")], "is a file, not a folder"),
    "train --cache-dir is a file": ("train", ["--out", P("r1"), "--cache-dir", P("afile")], "--cache-dir"),
    "train --epochs 0": ("train", ["--out", P("r1"), "--epochs", "0"], "--epochs must be at least 1, got 0"),
    "train --batch-size 0": ("train", ["--out", P("r1"), "--batch-size", "0"], "--batch-size must be at least 1"),
    "train --seed -1": ("train", ["--out", P("r1"), "--seed", "-1"], "--seed must be at least 0, got -1"),
    "train --image-size 8": ("train", ["--out", P("r1"), "--image-size", "8"], "--image-size must be at least 32"),
    "train --clips-per-class 0": (
        "train",
        ["--out", P("r1"), "--clips-per-class", "0", "1", "1"],
        "--clips-per-class must be at least 1",
    ),
    "train --backbone bogus": ("train", ["--out", P("r1"), "--backbone", "bogus"], "backbone must be one of"),
    "train config: a list where a mapping goes": (
        "train",
        ["--out", P("r1"), "--config", P("augment_list.yaml")],
        "augment must be a mapping of settings, got a list [1, 2]",
    ),
    "train config: a mapping where a list goes": (
        "train",
        ["--out", P("r1"), "--config", P("streams_map.yaml")],
        "streams must be a list, got a mapping",
    ),
    "train config: a list at the top": (
        "train",
        ["--out", P("r1"), "--config", P("top_list.yaml")],
        "expected a mapping of settings, got a list",
    ),
    "train config: a list where a value goes": (
        "train",
        ["--out", P("r1"), "--config", P("preset_list.json")],
        "preset must be a single value, got a list ['micro']",
    ),
    "train config: a bad augment value": (
        "train",
        ["--out", P("r1"), "--config", P("augment_key.yaml")],
        "training config: augment: AugmentConfig.flip_prob",
    ),
    "train --pose-model missing": (
        "train",
        ["--out", P("r1"), "--stage", "fusion", "--pose-model", P("nope.keras")],
        "--pose-model",
    ),
    "train a one-class dataset": (
        "train",
        ["--out", P("r1"), "--stage", "pose", "--data", P("one_class.npz")],
        "a classifier needs training clips of at least 2 classes",
    ),
    # export.py: before the model is loaded
    "export --min-agreement 1.5": (
        "export",
        ["--model", P("model.keras"), "--out", P("s1"), "--min-agreement", "1.5"],
        "--min-agreement must be in [0, 1], got 1.5",
    ),
    "export --min-agreement -0.1": (
        "export",
        ["--model", P("model.keras"), "--out", P("s1"), "--min-agreement", "-0.1"],
        "--min-agreement must be in [0, 1]",
    ),
    "export --top-k 0": (
        "export",
        ["--model", P("model.keras"), "--out", P("s1"), "--top-k", "0"],
        "--top-k must be at least 1, got 0",
    ),
    "export --top-k -3": (
        "export",
        ["--model", P("model.keras"), "--out", P("s1"), "--top-k", "-3"],
        "--top-k must be at least 1, got -3",
    ),
    "export --version 0": (
        "export",
        ["--model", P("model.keras"), "--out", P("s1"), "--version", "0"],
        "--version must be at least 1",
    ),
    "export --out is a file": ("export", ["--model", P("model.keras"), "--out", P("afile")], "is an existing file"),
    "export --samples 0": (
        "export",
        ["--model", P("model.keras"), "--out", P("s1"), "--samples", "0"],
        "--samples and --calibration must be at least 1",
    ),
    # predict_video.py: before the video is opened or a model loaded
    "predict --max-frames -1": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--max-frames", "-1"],
        "--max-frames must be at least 1, got -1",
    ),
    "predict --max-frames 0": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--max-frames", "0"],
        "--max-frames must be at least 1, got 0",
    ),
    "predict --stride 0": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--stride", "0"],
        "--stride must be at least 1",
    ),
    "predict --embed-every 0": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--embed-every", "0"],
        "--embed-every must be at least 1",
    ),
    "predict --smoothing 1": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--smoothing", "1"],
        "--smoothing must be in [0, 1), got 1.0",
    ),
    "predict --min-score 2": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--min-score", "2"],
        "--min-score must be in [0, 1]",
    ),
    "predict --top-k 0": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--top-k", "0"],
        "--top-k must be at least 1, got 0",
    ),
    "predict --out is a folder": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--out", P("adir.mp4")],
        "is an existing folder; expected a file path",
    ),
    "predict --out not a video name": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--out", P("out.txt")],
        "the annotated video must end in",
    ),
    "predict --json is a folder": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--json", P("adir")],
        "--json {root}/adir is an existing folder",
    ),
    "predict --json under a file": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--json", P("afile/t.json")],
        "is a file, not a folder",
    ),
    "predict --out and --json the same": (
        "predict_video",
        [P("video.mp4"), "--model", P("model.keras"), "--out", P("same.mp4"), "--json", P("same.mp4")],
        "--out and --json name the same file",
    ),
    # extract_poses.py
    "extract --max-frames -1": (
        "extract_poses",
        [P("videos"), "--out", P("d.npz"), "--max-frames", "-1"],
        "--max-frames must be at least 1, got -1",
    ),
    "extract --workers 0": (
        "extract_poses",
        [P("videos"), "--out", P("d.npz"), "--workers", "0"],
        "--workers must be at least 1",
    ),
    "extract --out is a folder": ("extract_poses", [P("videos"), "--out", P("adir")], "is an existing folder"),
    # the other commands' output places and numbers
    "evaluate --out is a file": ("evaluate", ["--model", P("model.keras"), "--out", P("afile")], "is an existing file"),
    "make_tfrecords --out is a file": ("make_tfrecords", ["synthetic", "--out", P("afile")], "is an existing file"),
    "make_tfrecords --clips-per-shard 0": (
        "make_tfrecords",
        ["synthetic", "--out", P("t1"), "--clips-per-shard", "0"],
        "--clips-per-shard must be at least 1",
    ),
    "benchmark --out is a file": ("benchmark", ["--out", P("afile")], "is an existing file; expected a folder"),
    "compare --out is a file": ("compare_models", ["--out", P("afile")], "is an existing file"),
    "compare --epochs 0": ("compare_models", ["--out", P("c1"), "--epochs", "0"], "--epochs must be at least 1"),
    "convert_motions --out is a folder": (
        "convert_motions",
        [P("one_class.npz"), "--out", P("adir")],
        "is an existing folder; expected a file path",
    ),
    "convert_utd_mhad --out is a folder": (
        "convert_utd_mhad",
        [P("adir"), "--out", P("adir")],
        "is an existing folder; expected a file path",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_command_lines(place, case, capsys):
    script, argv, message = CASES[case]
    before = sorted(p.name for p in place.iterdir())
    code, err = _run(script, [a.format(root=place) for a in argv], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and lines, err
    assert lines[-1].startswith("error: ") and message.format(root=place) in lines[-1], err
    assert "Traceback" not in err
    assert sorted(p.name for p in place.iterdir()) == before, "a refused command must write nothing"


# --- places that fail: read-only, full ---------------------------------------------------------------
def test_read_only_output_folder_is_refused_before_the_work(tmp_path, monkeypatch, capsys):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(har_io.tempfile, "mkstemp", read_only)
    code, err = _run("train", ["--out", str(tmp_path / "run"), "--stage", "data"], capsys)
    assert code == 2 and "cannot write in" in err and "Read-only file system" in err
    assert not (tmp_path / "run").exists()


def test_full_disk_is_refused_before_the_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(har_io.shutil, "disk_usage", lambda path: type("U", (), {"free": 1000})())
    code, err = _run("evaluate", ["--model", str(tmp_path / "m.keras"), "--out", str(tmp_path / "e")], capsys)
    assert code == 2 and "MiB free" in err and "needed" in err


def test_output_checks_accept_a_new_nested_path(tmp_path):
    assert check_output_file(tmp_path / "a" / "b" / "c.json") == tmp_path / "a" / "b" / "c.json"
    assert check_output_dir(tmp_path / "x" / "y") == tmp_path / "x" / "y"
    assert not (tmp_path / "a").exists() and not (tmp_path / "x").exists()  # checking creates nothing


def test_full_disk_mid_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(OutputError, match="No space left on device; nothing was written"):
        with atomic_write(target, "w") as handle:
            handle.write("new, half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_full_disk_while_saving_a_model_leaves_nothing(tmp_path):
    class Model:
        def save(self, path):
            open(path, "wb").write(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="cannot write file"):
        save_keras_atomic(Model(), tmp_path / "pose_model.keras")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "error, code, line",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "out/history.csv"),
            2,
            "error: cannot write out/history.csv: [Errno 28] No space left on device: 'out/history.csv'",
        ),
        (
            tf.errors.ResourceExhaustedError(None, None, "out of disk space writing variables"),
            2,
            "error: cannot write: out of disk space writing variables",
        ),
        (KeyboardInterrupt(), 130, "interrupted"),
        (Interrupted(signal.SIGTERM), 143, "interrupted (SIGTERM)"),
    ],
)
def test_run_cli_turns_late_failures_and_signals_into_one_line(error, code, line, capsys):
    def main():
        raise error

    with pytest.raises(SystemExit) as done:
        run_cli(main)
    assert done.value.code == code and capsys.readouterr().err.strip().splitlines() == [line]


def test_an_error_raised_while_a_signal_unwinds_is_still_interrupted(capsys):
    def main():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.01) if hasattr(signal, "sigtimedwait") else None
            for _ in range(10**6):  # the handler runs between bytecodes
                pass
        except KeyboardInterrupt as err:
            raise SystemError("<built-in function> returned a result with an exception set") from err

    with pytest.raises(SystemExit) as done:
        run_cli(main)
    assert done.value.code == 130 and capsys.readouterr().err.strip() == "interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # run_cli put the handler back


# --- one run per folder -----------------------------------------------------------------------------
def test_a_live_lock_refuses_a_second_run(tmp_path, capsys):
    (tmp_path / ".run.lock").write_text(f"{os.getppid()} {__import__('socket').gethostname()}\n")
    with pytest.raises(RunFolderBusyError, match="is in use by another run"):
        with run_folder_lock(tmp_path):
            pass
    code, err = _run("train", ["--out", str(tmp_path), "--stage", "data"], capsys)
    assert code == 2 and "is in use by another run" in err and "use another --out" in err
    assert (tmp_path / ".run.lock").read_text().split()[0] == str(os.getppid())  # not taken


def test_a_stale_lock_is_taken_over_and_the_lock_is_reentrant(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / ".run.lock").write_text(f"{int(dead.stdout)} {__import__('socket').gethostname()}\n")
    with run_folder_lock(tmp_path) as lock:
        assert lock.read_text().split()[0] == str(os.getpid())
        with run_folder_lock(tmp_path):  # the same process again (train.py, then stage 1)
            pass
        assert lock.is_file()
    assert not (tmp_path / ".run.lock").exists()
    assert "took over a lock left by process" in capsys.readouterr().err


# --- the training backup ----------------------------------------------------------------------------
def _tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


_X, _Y = np.random.default_rng(0).normal(size=(8, 3)).astype("float32"), np.array([0, 1] * 4)


def _backup_after(epochs: int, folder) -> None:
    """A backup folder as a run killed after ``epochs`` epochs leaves it."""
    callback = SafeBackupAndRestore(str(folder))
    callback.on_train_end = lambda logs=None: None  # keep it, as a kill would
    _tiny_model().fit(_X, _Y, epochs=epochs, verbose=0, callbacks=[callback])


def test_a_damaged_newest_backup_resumes_from_the_previous_state(tmp_path, capsys):
    _backup_after(3, tmp_path / "backup")
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta["epoch"] == 3 and meta["previous"]["epoch"] == 2
    (tmp_path / "backup" / meta["weights"]).write_bytes(b"truncated by a full disk")
    history = _tiny_model().fit(_X, _Y, epochs=4, verbose=0, callbacks=[SafeBackupAndRestore(str(tmp_path / "backup"))])
    assert len(history.history["loss"]) == 2  # epochs 3 and 4: resumed after epoch 2
    assert "unreadable; resuming from the previous state (epoch 2)" in capsys.readouterr().out


def test_an_unreadable_backup_trains_from_the_start(tmp_path, capsys):
    _backup_after(1, tmp_path / "backup")
    (tmp_path / "backup" / "training_metadata.json").write_text("{not json")
    history = _tiny_model().fit(_X, _Y, epochs=2, verbose=0, callbacks=[SafeBackupAndRestore(str(tmp_path / "backup"))])
    assert len(history.history["loss"]) == 2 and "training from the start" in capsys.readouterr().out


def test_a_backup_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    _backup_after(2, tmp_path / "backup")
    before = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())

    def full(self, path, *args, **kwargs):
        open(path, "wb").write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save_weights", full)
    callback = SafeBackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(OutputError, match="No space left on device"):
        _tiny_model().fit(_X, _Y, epochs=4, verbose=0, callbacks=[callback])
    monkeypatch.undo()
    assert json.loads((tmp_path / "backup" / "training_metadata.json").read_text()) == before
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == sorted(
        ["training_metadata.json", before["weights"], before["previous"]["weights"]]
    )


def test_no_room_for_the_backup_is_one_line_before_writing(tmp_path, monkeypatch):
    _backup_after(1, tmp_path / "backup")
    monkeypatch.setattr("har_tf.training.callbacks.shutil.disk_usage", lambda p: type("U", (), {"free": 10})())
    with pytest.raises(OutputError, match="the previous backup is kept: free some space"):
        _tiny_model().fit(_X, _Y, epochs=3, verbose=0, callbacks=[SafeBackupAndRestore(str(tmp_path / "backup"))])


# --- a run folder's own files -----------------------------------------------------------------------
def test_a_damaged_config_is_not_a_finished_run(tmp_path):
    for name in ("pose_model.keras", "metrics.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "config.json").write_text("{half")
    assert stage1_finished(tmp_path, load_train_config()) is False


def test_a_mixed_history_is_a_warning_not_a_failed_run(tmp_path, capsys):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\nepoch,accuracy,loss\n0,0.5,0.9\n")
    assert plot_history_if_readable(tmp_path / "history.csv", tmp_path / "curves.png") is None
    assert "warning: no training curves" in capsys.readouterr().out and not (tmp_path / "curves.png").exists()


def test_a_single_class_training_split_is_refused_by_stage1(tmp_path):
    from har_tf.training.stage1 import train_stage1

    clips = export_inputs(n=6, seed=1, frames=False)["pose"]
    data = PoseDataset(clips[:3], [1] * 3, list(EXPORT_CLASSES), "coco17", x_test=clips[3:], y_test=[0, 1, 2])
    with pytest.raises(InvalidInputError, match=r"hold 1 class \['fall'\] of 4"):
        train_stage1(load_train_config(None, {"epochs": 1}), tmp_path / "run", dataset=data)
    assert not (tmp_path / "run" / "pose_model.keras").exists() and not (tmp_path / "run" / ".run.lock").exists()


def test_errors_are_project_errors():
    assert issubclass(OutputError, HARError) and issubclass(OutputError, OSError)
    assert issubclass(RunFolderBusyError, HARError)
