import numpy as np
import pytest
import torch
from escnn import group

torch.use_deterministic_algorithms(False)


def _d4():
    return group.dihedral_group(4)


FINITE_GROUPS = {
    "C1": lambda: group.cyclic_group(1),
    "C4": lambda: group.cyclic_group(4),
    "C5": lambda: group.cyclic_group(5),
    "D1": lambda: group.dihedral_group(1),
    "D3": lambda: group.dihedral_group(3),
    "D4": _d4,
    "octa": group.octa_group,
    "full_octa": group.full_octa_group,
    "ico": group.ico_group,
    "full_ico": group.full_ico_group,
    "C4xC4": lambda: group.direct_product(group.cyclic_group(4), group.cyclic_group(4)),
    "D4xD4": lambda: group.direct_product(_d4(), _d4()),
    "C2xD3": lambda: group.direct_product(group.cyclic_group(2), group.dihedral_group(3)),
    "C4<D4": lambda: _d4().subgroup((None, 4))[0],
}
"""Every finite escnn group family, two direct products and a subgroup, built on first use
(escnn's factories cache them)."""


@pytest.fixture(params=sorted(FINITE_GROUPS), scope="session")
def finite_group(request):
    return FINITE_GROUPS[request.param]()


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    r"""The tensors in the tests are small: one thread is as fast, and does not stall when
    other jobs share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def cuda_devices():
    return ["cuda"] if torch.cuda.is_available() else []
