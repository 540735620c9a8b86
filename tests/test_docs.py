r"""The docstring examples run, and the Sphinx documentation builds without warnings, with the user guide's
examples executed."""

import doctest
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORE = ["escnn_soft.groups", "escnn_soft.latent", "escnn_soft.actions", "escnn_soft.loss", "escnn_soft.testing",
        "escnn_soft.learned.decompose", "escnn_soft.learned", "escnn_soft.learned.objective", "escnn_soft.learned.reports"]


@pytest.mark.parametrize("name", CORE)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_sphinx_builds_without_warnings(tmp_path):
    r"""The documentation builds with warnings as errors, every page of the user guide executed and shown
    with its figures. It is built from a copy of ``docs/`` and ``examples/``, so that no example is skipped
    as unchanged and nothing is written into the checkout."""
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    root = Path(__file__).resolve().parents[1]
    generated = shutil.ignore_patterns("_build", "auto_examples", "sg_execution_times.rst", "__pycache__")
    for folder in ("docs", "examples"):
        shutil.copytree(root / folder, tmp_path / folder, ignore=generated)
    html = tmp_path / "html"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(tmp_path / "docs"), str(html)],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    pages = sorted(p.stem for p in (root / "examples").glob("*.py"))
    assert len(pages) == 6
    for page in pages:
        shown = (html / "auto_examples" / f"{page}.html").read_text(encoding="utf-8")
        assert "sphx-glr-script-out" in shown, f"{page}: no output shown"
        assert (html / "_images" / f"sphx_glr_{page}_001.png").is_file(), f"{page}: no figure"
