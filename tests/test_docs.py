r"""The Sphinx documentation builds without warnings, with the user guide's examples executed. (The docstring
examples run as doctests: ``pytest.ini`` collects ``escnn_soft`` with ``--doctest-modules``.)"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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
