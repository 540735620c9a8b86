r"""Fixtures of the task tests: a test module names its task (``TASK``) and its training set size
(``TRAIN_SIZE``), and gets the task, its default source and its C4 data on the CPU."""

import pytest
import torch

from escnn_soft.experiments.task import get_task


@pytest.fixture(scope="module")
def task(request):
    r"""The registered task named by the test module's ``TASK``."""
    return get_task(request.module.TASK)


@pytest.fixture(scope="module")
def source(task):
    r"""The task's default source."""
    return task.open(None)


@pytest.fixture(scope="module")
def data(task, source, request):
    r"""The task's C4 data: the test module's ``TRAIN_SIZE`` training samples, data seed 0, on the CPU."""
    return task.load("C4", source, train_size=request.module.TRAIN_SIZE, data_seed=0, device=torch.device("cpu"))
