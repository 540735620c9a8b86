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


@pytest.fixture
def one_step(task, data):
    r"""``one_step(model, batch)``: build ``model`` for C4, take one Adam step on the first ``batch``
    training samples and return ``(setup, x, total, output, parts, changed, grads)``: ``changed`` tells whether
    the step moved a parameter, ``grads`` whether every parameter had a gradient."""

    def step(model, batch):
        torch.manual_seed(0)
        hyper = task.hyperparameters(model, "C4")
        setup = task.build(model, "C4", hyper)
        gen = torch.Generator().manual_seed(0)
        x, y = data.train_batch(torch.arange(batch), augment=setup.augment, generator=gen)
        setup.model.train()
        optimizer = torch.optim.Adam(setup.model.parameters(), lr=hyper["lr"])
        before = [p.detach().clone() for p in setup.model.parameters()]
        total, output, parts = setup.loss(x, y, gen)
        total.backward()
        grads = all(p.grad is not None for p in setup.model.parameters())
        optimizer.step()
        changed = any(not torch.equal(a, b) for a, b in zip(before, setup.model.parameters()))
        return setup, x, total, output, parts, changed, grads

    return step
