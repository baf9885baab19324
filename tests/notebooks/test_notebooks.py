"""The notebooks in notebooks/: committed without outputs, in the keras-io shape, and they run top to bottom.

Each notebook runs in a fresh kernel of this interpreter (``sys.executable``) with the small settings
(``HAR_TF_NOTEBOOK_SMALL=1``), its outputs and the synthetic data cache in a temporary folder, so the
test writes nothing into the repository or the user's cache. 02_custom_data runs twice: with the real
data in ../shared (when present) and without it, the path a user's clone takes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, SHARED_DIR

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = ("01_quickstart.ipynb", "02_custom_data.ipynb", "03_deploy.ipynb")
MAX_CODE_CELLS_IN_A_ROW = 3
CELL_TIMEOUT_S = 600


def _cells(name: str) -> list[dict]:
    return json.loads((NOTEBOOK_DIR / name).read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def test_the_notebooks_are_there():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == list(NOTEBOOKS)
    assert (NOTEBOOK_DIR / "README.md").is_file()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_clean(name):
    """Valid nbformat 4, no outputs, no execution counts or timings: the repository holds no results."""
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=nbformat.NO_CONVERT)
    assert notebook.nbformat == 4
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: code cell {index} has stored outputs: clear them before committing"
            assert cell.execution_count is None, f"{name}: code cell {index} has an execution count"
        assert "execution" not in cell.metadata, f"{name}: cell {index} has execution timings in its metadata"
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_tells_a_story(name):
    """A title and an introduction first, markdown between the code, a closing 'What next'."""
    cells = _cells(name)
    kinds = [cell["cell_type"] for cell in cells]
    assert kinds[0] == "markdown" and _source(cells[0]).startswith("# "), f"{name}: must open with a '# title' cell"
    assert "## Introduction" in _source(cells[0]), f"{name}: the first cell must hold the introduction"
    assert "code" in kinds
    run = longest = 0
    for kind in kinds:
        run = run + 1 if kind == "code" else 0
        longest = max(longest, run)
    assert longest <= MAX_CODE_CELLS_IN_A_ROW, f"{name}: {longest} code cells in a row without markdown"
    headings = [
        line
        for cell in cells
        if cell["cell_type"] == "markdown"
        for line in _source(cell).splitlines()
        if line.startswith("## ")
    ]
    assert headings[-1] == "## What next", f"{name}: the last section must be '## What next', got {headings[-1]!r}"
    code = "\n".join(_source(cell) for cell in cells if cell["cell_type"] == "code")
    for variable in ("HAR_TF_NOTEBOOK_SMALL", "HAR_TF_NOTEBOOK_OUT"):
        assert variable in code, f"{name}: must read ${variable}"


def _kernel_name(jupyter_dir: Path) -> str:
    """A kernelspec that runs this very interpreter (not whatever 'python3' a user's Jupyter finds first)."""
    name = "har-tf-test"
    spec = jupyter_dir / "kernels" / name
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "HAR-TF tests",
                "language": "python",
            }
        )
    )
    return name


@pytest.mark.parametrize(
    ("name", "shared"),
    [
        pytest.param("01_quickstart.ipynb", "auto", id="01_quickstart"),
        pytest.param("02_custom_data.ipynb", "yes", id="02_custom_data-shared"),
        pytest.param("02_custom_data.ipynb", "no", id="02_custom_data-no_shared", marks=pytest.mark.slow),
        pytest.param("03_deploy.ipynb", "auto", id="03_deploy", marks=pytest.mark.slow),  # exports: tests/export
    ],
)
def test_notebook_runs(name, shared, tmp_path, monkeypatch):
    """``shared``: "yes" needs ../shared, "no" hides it, "auto" uses it when present."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    if shared == "yes" and not SHARED_DIR.is_dir():
        pytest.skip(f"real data folder {SHARED_DIR} is absent: the no-shared run covers this notebook's fall-back")
    with_shared = shared != "no" and SHARED_DIR.is_dir()
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter_runtime"))  # connection files
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))  # the kernel's history database
    monkeypatch.setenv("HAR_TF_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("HAR_TF_NOTEBOOK_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("HAR_TF_CACHE_DIR", str(tmp_path / "cache"))  # the tiny synthetic sets take seconds
    monkeypatch.setenv("HAR_TF_SHARED_DIR", str(SHARED_DIR if with_shared else tmp_path / "no_shared"))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the plots
    workdir = tmp_path / "work"
    workdir.mkdir()

    repo_out = REPO_ROOT / "saved_models" / "notebooks"  # where the notebooks write without the variable
    repo_out_before = repo_out.stat().st_mtime_ns if repo_out.exists() else None
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    kernel = _kernel_name(tmp_path / "jupyter")
    client = nbclient.NotebookClient(
        notebook, kernel_name=kernel, timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(workdir)}}
    )  # the kernel's working folder
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    seconds = time.perf_counter() - start

    assert (tmp_path / "out" / Path(name).stem).is_dir(), f"{name} did not write under $HAR_TF_NOTEBOOK_OUT"
    assert (repo_out.stat().st_mtime_ns if repo_out.exists() else None) == repo_out_before, (
        f"{name} wrote into {repo_out}"
    )
    plots = sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )
    assert plots >= 1, f"{name} showed no plot"
    print(f"{name} ({'with' if with_shared else 'without'} ../shared): {seconds:.1f} s")
