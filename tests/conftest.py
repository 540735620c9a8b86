import numpy as np
import pytest
import torch
from escnn import group

torch.use_deterministic_algorithms(False)


def _finite_groups():
    d4 = group.dihedral_group(4)
    return {
        "C1": group.cyclic_group(1),
        "C4": group.cyclic_group(4),
        "C5": group.cyclic_group(5),
        "D1": group.dihedral_group(1),
        "D3": group.dihedral_group(3),
        "D4": d4,
        "octa": group.octa_group(),
        "full_octa": group.full_octa_group(),
        "ico": group.ico_group(),
        "full_ico": group.full_ico_group(),
        "C4xC4": group.direct_product(group.cyclic_group(4), group.cyclic_group(4)),
        "D4xD4": group.direct_product(d4, d4),
        "C2xD3": group.direct_product(group.cyclic_group(2), group.dihedral_group(3)),
        "C4<D4": d4.subgroup((None, 4))[0],
    }


FINITE_GROUPS = _finite_groups()


@pytest.fixture(params=sorted(FINITE_GROUPS), scope="session")
def finite_group(request):
    """Every finite escnn group family, two direct products and a subgroup."""
    return FINITE_GROUPS[request.param]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def cuda_devices():
    return ["cuda"] if torch.cuda.is_available() else []
