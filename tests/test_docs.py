r"""The docstring examples run, and the Sphinx documentation builds without warnings."""

import doctest
import importlib
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
    pytest.importorskip("sphinx")
    docs = Path(__file__).resolve().parents[1] / "docs"
    run = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(docs), str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
