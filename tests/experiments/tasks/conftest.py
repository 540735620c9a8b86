r"""Fixtures of the task tests: a test module names its task (``TASK``) and its training set size
(``TRAIN_SIZE``), and gets the task, its default source and the data of its default group on the CPU."""

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
    r"""The data of the task's default group: the test module's ``TRAIN_SIZE`` training samples, data seed 0, on
    the CPU."""
    return task.load(task.default_group, source, train_size=request.module.TRAIN_SIZE, data_seed=0,
                     device=torch.device("cpu"))


@pytest.fixture
def one_step(task, data):
    r"""``one_step(model, batch)``: build ``model`` for the task's default group, take one Adam step on the first
    ``batch`` training samples and return ``(setup, x, total, output, parts, changed, grads)``: ``changed`` tells
    whether the step moved a parameter, ``grads`` whether every parameter had a gradient."""

    def step(model, batch):
        torch.manual_seed(0)
        hyper = task.hyperparameters(model, task.default_group)
        setup = task.build(model, task.default_group, hyper)
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
