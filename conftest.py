r"""Settings of the doctests of ``escnn_soft`` (``pytest.ini`` collects the package with ``--doctest-modules``)."""

import contextlib
import io
from functools import lru_cache

import pytest


@lru_cache(maxsize=None)
def _quiet_escnn_caches() -> None:
    r"""Build the irreps of escnn's octahedral group once, its output discarded: escnn reports every
    load from its disk cache on stdout, which a doctest would take for the example's output."""
    from escnn.group import octa_group

    with contextlib.redirect_stdout(io.StringIO()):
        octa_group().irreps()


@pytest.fixture(autouse=True)
def _doctest_setup(request):
    if isinstance(request.node, pytest.DoctestItem):
        _quiet_escnn_caches()
    yield
