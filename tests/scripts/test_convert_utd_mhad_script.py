"""scripts/convert_utd_mhad.py on a tiny real subset and its one-line errors (in-process: the script's
``main`` with the command-line arguments, through ``run_cli`` as ``__main__`` runs it)."""

from __future__ import annotations

import importlib.util

import pytest

from har_tf.cli import run_cli
from har_tf.data.pose_npz import load_pose_npz
from tests.helpers import REPO_ROOT, shared_file

UTD = "data/utd_mhad"


def _script_main():
    path = REPO_ROOT / "scripts" / "convert_utd_mhad.py"
    spec = importlib.util.spec_from_file_location("convert_utd_mhad_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_script_on_a_tiny_real_subset(shared_dir, tmp_path, capsys):
    root = shared_file(shared_dir, UTD)
    out = tmp_path / "utd_xy.npz"
    main = _script_main()
    with pytest.raises(SystemExit) as info:
        run_cli(
            lambda: main(
                [
                    str(root),
                    "--out",
                    str(out),
                    "--test-subjects",
                    "5",
                    "7",
                    "--actions",
                    "1",
                    "wave",
                    "--frames",
                    "2",
                    "--image-size",
                    "32",
                    "--imu-samples",
                    "20",
                    "--channels",
                    "xy",
                    "--crop",
                    "none",
                    "--no-progress",
                ]
            )
        )
    assert info.value.code == 0
    stdout = capsys.readouterr().out
    assert "train subjects [1, 3]: x (16, " in stdout and "test  subjects [5, 7]" in stdout
    assert "depth 16 x 2 x 32x32" in stdout and "imu (16, 20, 6)" in stdout
    assert "depth crops from: frame 32" in stdout and f"wrote {out}" in stdout
    ds = load_pose_npz(out)
    assert ds.channels == "xy" and ds.x_train.shape[-1] == 2 and sorted(set(ds.y_test.tolist())) == [0, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            (
                "error: test subjects [2, 4, 6, 8] are not in the data, which holds subjects [1, 3, 5, 7]: "
                "choose test subjects among those (for example --test-subjects 5 7)"
            ),
        ),
        (["--test-subjects", "5", "--actions", "jump"], "error: unknown UTD-MHAD action 'jump'"),
    ],
)
def test_script_errors_are_one_line(shared_dir, tmp_path, capsys, args, message):
    root = shared_file(shared_dir, UTD)
    main = _script_main()
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: main([str(root), "--out", str(tmp_path / "d.npz"), "--no-progress", *args]))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err
    assert not (tmp_path / "d.npz").exists()


def test_script_missing_root_in_process(tmp_path, capsys):
    main = _script_main()
    with pytest.raises(SystemExit) as info:
        run_cli(lambda: main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "d.npz")]))
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: no such UTD-MHAD folder: {tmp_path / 'nowhere'}"
