r"""The soft loss under DistributedDataParallel: gloo, 2 CPU processes, float64, 3 SGD steps.

One ``torch.multiprocessing`` start (forked, so that the processes inherit the imports) trains
every case in both processes, each on its half
of the batch; the parameters after 3 steps are compared with one process that steps on
the reference loss. ``python -m pytest tests/test_distributed.py -s`` prints the largest
absolute difference of every case (the figures of ``docs/scaling.rst``).
"""

import copy
import tempfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from escnn import gspaces, nn as enn
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from escnn_soft import SoftEquivarianceLoss, field_action, regular_latent
from escnn_soft.distributed import SyncBatchNorm, convert_sync_batchnorm

WORLD, BATCH, STEPS, TOL = 2, 8, 3, 1e-6

# case: (model, loss weights, DDP keywords, micro-batches per step, reference)
# reference "shards": the mean of the per-shard losses (each shard with its own batch statistics);
# "union": the loss of the whole batch
CASES = {
    "plain": ("plain", {}, {}, 1, "shards"),
    "from_layer": ("from_layer", {}, {}, 1, "shards"),
    "batchnorm": ("bn", {}, {}, 1, "shards"),
    "sync_batchnorm": ("bn_sync", {}, {}, 1, "union"),
    "lam0": ("plain", {"lam": 0.0}, {}, 1, "shards"),
    "lam0_find_unused": ("plain", {"lam": 0.0}, {"find_unused_parameters": True}, 1, "shards"),
    "shifted0": ("plain", {"shifted_weight": 0.0}, {}, 1, "shards"),
    "one_pass_find_unused": ("plain", {"lam": 0.0, "shifted_weight": 0.0}, {"find_unused_parameters": True}, 1,
                             "shards"),
    "no_sync_accumulation": ("bn", {}, {}, 2, "shards"),
    "separate_ddp_encoder_and_head": ("separate", {}, {}, 1, "shards"),
}
# cases that break, as documented: (model, weights, DDP keywords, micro-batches, reference, lam from step 1)
BROKEN = {
    "ddp_encoder_only": ("encoder_only", {}, {}, 1, "shards", None),
    "static_graph_lam_switched_on": ("plain", {"lam": 0.0, "shifted_weight": 0.0}, {"static_graph": True}, 1,
                                     "shards", 1.0),
}


def _parts():
    r2 = gspaces.rot2dOnR2(4)
    return field_action(enn.FieldType(r2, [r2.trivial_repr])), regular_latent(r2.fibergroup, 8)


def _build(model, weights):
    r"""The loss module of a case, initialised from seed 0 (the same in every process)."""
    torch.manual_seed(0)
    action, latent = _parts()
    kwargs = dict(in_action=action, latent=latent, task_loss=nn.CrossEntropyLoss(), **weights)
    conv = [nn.Conv2d(1, 8, 3), nn.ELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if model == "from_layer":
        layers = OrderedDict([("conv", conv[0]), ("act", conv[1]), ("pool", conv[2]), ("flat", conv[3]),
                              ("latent", nn.Linear(8, 8)), ("out_act", nn.ELU()), ("fc", nn.Linear(8, 3))])
        return SoftEquivarianceLoss.from_layer(nn.Sequential(layers).double(), "latent", **kwargs)
    if model in ("bn", "bn_sync"):
        encoder = nn.Sequential(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ELU(), nn.AdaptiveAvgPool2d(1),
                                nn.Flatten(), nn.Linear(8, 8), nn.BatchNorm1d(8))
        head = nn.Sequential(nn.ELU(), nn.Linear(8, 3))
    else:
        encoder, head = nn.Sequential(*conv), nn.Linear(8, 3)
    return SoftEquivarianceLoss(encoder.double(), head.double(), **kwargs)


def _batch(step, micro):
    gen = torch.Generator().manual_seed(100 * step + micro)
    x = torch.randn(BATCH, 1, 9, 9, generator=gen, dtype=torch.float64)
    return x, torch.randint(3, (BATCH,), generator=gen), torch.randint(4, (BATCH,), generator=gen)


def _shard(tensors, rank):
    n = BATCH // WORLD
    return [t[rank * n:(rank + 1) * n] for t in tensors]


def _train(loss_fn, step_loss, micro_batches, switch_on):
    opt = torch.optim.SGD(loss_fn.parameters(), lr=0.1)
    for step in range(STEPS):
        if switch_on is not None and step == 1:
            inner = getattr(loss_fn, "module", loss_fn)
            inner.lam = inner.shifted_weight = switch_on
        opt.zero_grad()
        for micro in range(micro_batches):
            step_loss(step, micro, micro == micro_batches - 1).backward()
        opt.step()


def _distributed(rank, case, spec):
    model, weights, ddp_kwargs, micro_batches, _, switch_on = (*spec, None)[:6]
    module = _build(model, weights)
    if model == "bn_sync":
        module = convert_sync_batchnorm(module)
    if model == "encoder_only":
        module.encoder = DDP(module.encoder)
        loss_fn = module
    elif model == "separate":
        module.encoder, module.head = DDP(module.encoder), DDP(module.head)
        loss_fn = module
    else:
        loss_fn = DDP(module, **ddp_kwargs)

    def step_loss(step, micro, last):
        x, y, g = _shard(_batch(step, micro), rank)
        if last or not isinstance(loss_fn, DDP):
            return loss_fn(x, y, g=g).total
        with loss_fn.no_sync():
            return loss_fn(x, y, g=g).total

    _train(loss_fn, step_loss, micro_batches, switch_on)
    state = getattr(loss_fn, "module", loss_fn).state_dict()
    return {k.replace(".module.", "."): v.detach().clone() for k, v in state.items()}  # DDP-wrapped parts' names


def _reference(spec):
    model, weights, _, micro_batches, reference, switch_on = (*spec, None)[:6]
    module = _build({"bn_sync": "bn", "separate": "plain", "encoder_only": "plain"}.get(model, model), weights)

    def step_loss(step, micro, last):
        x, y, g = _batch(step, micro)
        if reference == "union":
            return module(x, y, g=g).total
        return sum(module(*_shard([x, y], r), g=_shard([g], r)[0]).total for r in range(WORLD)) / WORLD

    _train(module, step_loss, micro_batches, switch_on)
    return module


def _worker(rank, init_file, out):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    results = {}
    for case, spec in {**CASES, **BROKEN}.items():
        try:
            results[case] = _distributed(rank, case, spec)
        except Exception as e:  # recorded: the test says which case failed and how
            results[case] = f"{type(e).__name__}: {e}"
    torch.save(results, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def trained():
    _parts()  # escnn's group and field type, built once and inherited by the forked processes
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(_worker, args=(str(Path(tmp) / "init"), tmp), nprocs=WORLD, join=True,
                           start_method="fork")
        return [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _max_diff(state, module, buffers=False):
    names = dict(module.named_parameters())
    if buffers:
        names.update((k, v) for k, v in module.named_buffers() if v.is_floating_point())
    return max((state[k] - v.detach()).abs().max().item() for k, v in names.items())


@pytest.mark.parametrize("case", CASES)
def test_ddp_of_the_whole_loss_module_is_one_process_on_the_reference_loss(trained, case):
    r"""Parameters after 3 steps equal those of one process on the mean of the shard losses (or,
    with SyncBatchNorm, on the union batch), and the two processes agree."""
    state, other = trained[0][case], trained[1][case]
    assert not isinstance(state, str), state
    reference = _reference(CASES[case])
    diff = _max_diff(state, reference, buffers=CASES[case][-1] == "union")
    ranks = max((state[k] - other[k]).abs().max().item() for k, _ in reference.named_parameters())
    print(f"\n{case}: max |DDP - reference| = {diff:.2e}, max |rank 0 - rank 1| = {ranks:.2e}")
    assert diff < TOL and ranks < TOL


def test_the_reference_cases_differ():
    r"""The references are not all one: per-shard statistics are not those of the union batch."""
    shards, union = _reference(CASES["batchnorm"]), _reference(CASES["sync_batchnorm"])
    assert max((a - b).abs().max().item() for a, b in zip(shards.parameters(), union.parameters())) > 1e-4


def test_ddp_of_the_encoder_alone_leaves_the_head_unsynchronised(trained):
    state, other = trained[0]["ddp_encoder_only"], trained[1]["ddp_encoder_only"]
    head = [k for k in state if k.startswith("head.")]
    assert max((state[k] - other[k]).abs().max().item() for k in head) > 1e-3


def test_static_graph_misses_a_second_pass_switched_on_later(trained):
    r"""``static_graph=True`` records the graph of the first steps: when ``lam`` turns on later,
    the processes drift apart and away from the reference, with no error."""
    state, other = trained[0]["static_graph_lam_switched_on"], trained[1]["static_graph_lam_switched_on"]
    reference = _reference(BROKEN["static_graph_lam_switched_on"])
    ranks = max((state[k] - other[k]).abs().max().item() for k, _ in reference.named_parameters())
    print(f"\nstatic_graph_lam_switched_on: max |DDP - reference| = {_max_diff(state, reference):.2e}, "
          f"max |rank 0 - rank 1| = {ranks:.2e}")
    assert ranks > 1e-3


def test_sync_batchnorm_is_batch_norm_outside_training_and_without_a_process_group():
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)).double()
    synced = convert_sync_batchnorm(copy.deepcopy(plain))
    assert type(synced[1]) is SyncBatchNorm and not dist.is_initialized()
    x = torch.randn(6, 1, 7, 7, dtype=torch.float64)
    assert torch.allclose(synced(x), plain(x)) and torch.allclose(synced[1].running_var, plain[1].running_var)
    synced.eval(), plain.eval()
    assert torch.allclose(synced(x), plain(x))
    plain.load_state_dict(synced.state_dict())
    with pytest.raises(TypeError, match="takes a torch.nn.Module"):
        convert_sync_batchnorm(lambda x: x)

