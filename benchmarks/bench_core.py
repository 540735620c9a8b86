r"""Speed of the core: latent actions, data actions, and a soft training step.

(a) ``RegularLatent.apply`` (one gather) vs the straightforward dense product,
    looped over the elements present in the batch; d = 66, G = C4×C4 and D4×D4.
(b) the batched C4 data action on 64×1×57×57 and the octahedral one on 64×1×28³
    vs escnn's per-sample ``GeometricTensor.transform``.
(c) a full training step (forward, backward, Adam) of the paper's DDMNIST CNN with
    the soft loss vs the plain step, B = 64 and 1024.
(d) the same soft step with the loss compiled (``torch.compile(..., fullgraph=True)``,
    inductor; its backward compiled with it) vs eager, B = 64 and 1024.
(e) the cheaper soft step: ``pair_fraction`` β ∈ {1, 0.5, 0.25}, fused and not, vs the
    plain step and vs its floor, a plain step on B samples plus a plain forward and
    backward pass on ⌈βB⌉ more, B = 64, 256 and 1024; a table of its own.

Each comparison calls its functions in turns (a few calls in a row per turn) and
compares medians, in one run.

Run:  python benchmarks/bench_core.py [--device cpu|cuda] [--threads N] [--only abcde]
          [--batch-sizes 64,256,1024] [--repeats N] [--out benchmarks/results/core_cpu.md]
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import cyclic_group, dihedral_group, direct_product
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import header, interleaved, publish  # noqa: E402

from escnn_soft import SoftEquivarianceLoss, field_action, regular_latent  # noqa: E402


def dense_loop(z: torch.Tensor, g: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    r"""The straightforward way: one dense matrix product per element present in the batch."""
    out = torch.empty_like(z)
    for e in g.unique().tolist():
        mask = g == e
        out[mask] = z[mask] @ matrices[e].T
    return out


def bench_latent(device: str, rows: list) -> None:
    for name, G in [("C4×C4", direct_product(cyclic_group(4), cyclic_group(4))),
                    ("D4×D4", direct_product(dihedral_group(4), dihedral_group(4)))]:
        latent = regular_latent(G, 66)
        matrices = torch.stack([latent.matrix(i) for i in range(latent.group.order)]).float().to(device)
        for B in (64, 1024):
            z = torch.randn(B, 66, device=device)
            g = latent.group.sample(B, device=device)
            assert torch.equal(latent(z, g), dense_loop(z, g, matrices))
            t = interleaved({"gather": lambda: latent(z, g), "dense": lambda: dense_loop(z, g, matrices)},
                            repeats=200, number=5, device=device)
            rows.append(("(a) latent apply", f"{name}, d=66, B={B}", "dense loop", t["dense"], "apply", t["gather"]))


def escnn_per_sample(ft: enn.FieldType, x: torch.Tensor, g: torch.Tensor, elements: list) -> torch.Tensor:
    return torch.cat([enn.GeometricTensor(x[b:b + 1], ft).transform(elements[int(g[b])]).tensor for b in range(len(x))])


def bench_data(device: str, rows: list, three_d: bool = True) -> None:
    cases = [("C4 64×1×57×57", gspaces.rot2dOnR2, (57, 57), 50), ("octa 64×1×28³", gspaces.octaOnR3, (28, 28, 28), 30)]
    for label, make_gspace, shape, repeats in cases[:2 if three_d else 1]:
        gspace = make_gspace(4) if len(shape) == 2 else make_gspace()
        ft = enn.FieldType(gspace, [gspace.trivial_repr])
        act = field_action(ft)
        elements = act.group.elements
        x = torch.randn(64, 1, *shape, device=device)
        g = act.group.sample(64, device=device)
        assert torch.equal(act(x, g), escnn_per_sample(ft, x, g, elements))
        t = interleaved({"batched": lambda: act(x, g), "escnn": lambda: escnn_per_sample(ft, x, g, elements)},
                        repeats=repeats, number=3, device=device)
        rows.append(("(b) data action", label, "escnn per-sample transform", t["escnn"], "field_action", t["batched"]))


def _ddmnist(device: str, B: int, **soft_options):
    r"""The DDMNIST CNN (C4×C4), its soft loss, Adam and a random batch of ``B`` pairs."""
    from escnn_soft.experiments.datasets import ddmnist_group
    from escnn_soft.experiments.models import ddmnist_cnn

    group = ddmnist_group("C4")
    torch.manual_seed(0)
    model = ddmnist_cnn().to(device)
    soft = SoftEquivarianceLoss(model.encoder, model.head, in_action=group.input_action,
                                latent=regular_latent(group.product.group, 66), task_loss=nn.CrossEntropyLoss(),
                                lam=2.0, **soft_options).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(B, 1, 56, 56, device=device)
    y = torch.randint(100, (B,), device=device)
    return model, soft, optimizer, x, y


def bench_step(device: str, rows: list, batches=(64, 1024), repeats=None) -> None:
    for B in batches:
        model, soft, optimizer, x, y = _ddmnist(device, B)

        def plain_step():
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        def soft_step():
            loss = soft(x, y).total
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        def floor_step():  # two plain passes in one step: the least the soft loss can cost
            loss = nn.functional.cross_entropy(model(x), y) + nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        t = interleaved({"plain": plain_step, "soft": soft_step, "floor": floor_step},
                        repeats=repeats or (40 if B <= 64 else 12), device=device)
        rows.append(("(c) training step", f"DDMNIST CNN, C4×C4, B={B}", "soft", t["soft"], "plain", t["plain"]))
        rows.append(("(c) training step", f"DDMNIST CNN, C4×C4, B={B}", "two plain passes", t["floor"], "plain",
                     t["plain"]))


def bench_compiled(device: str, rows: list, batches=(64, 1024), repeats=None) -> None:
    for B in batches:
        _, soft, optimizer, x, y = _ddmnist(device, B)

        def step(total_fn):
            g = soft.group.sample(B, device=device)
            loss = total_fn(x, y, g)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        eager = lambda x, y, g: soft(x, y, g=g).total  # noqa: E731
        compiled = torch.compile(eager, fullgraph=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step(compiled)  # compiles, outside the timing
        t = interleaved({"eager": lambda: step(eager), "compiled": lambda: step(compiled)},
                        repeats=repeats or (40 if B <= 64 else 12), device=device)
        rows.append(("(d) compiled step", f"DDMNIST CNN, C4×C4, B={B}", "compiled soft step", t["compiled"],
                     "eager soft step", t["eager"]))


def bench_pairs(device: str, batches=(64, 256, 1024), repeats=None) -> list:
    r"""The lines of table (e): soft step / plain step per B, β and fused, beside the floor of each β."""
    fractions = (1.0, 0.5, 0.25)
    lines = ["", "(e) the soft step with its second pass on ⌈βB⌉ samples (DDMNIST CNN, C4×C4, Adam): medians; "
             "floor = a plain step on B samples plus a plain forward and backward pass on ⌈βB⌉ more, in one step. "
             "Targets: soft / plain ≤ 1 + β + 0.05 at B = 256, and within 0.05 of floor / plain at every B.", "",
             "| B | β | fused | soft (ms) | plain (ms) | floor (ms) | soft / plain | floor / plain | "
             "soft / plain − floor / plain |",
             "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for B in batches:
        model, soft, optimizer, x, y = _ddmnist(device, B)
        losses = {(beta, fused): SoftEquivarianceLoss(soft.encoder, soft.head, in_action=soft.in_action,
                                                      latent=soft.latent, task_loss=soft.task_loss, lam=2.0,
                                                      pair_fraction=beta, fused=fused)
                  for beta in fractions for fused in (False, True)}

        def run(loss):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        def plain():
            run(nn.functional.cross_entropy(model(x), y))

        def floor(k):
            return lambda: run(nn.functional.cross_entropy(model(x), y)
                               + nn.functional.cross_entropy(model(x[:k]), y[:k]))

        def soft_step(loss_fn):
            return lambda: run(loss_fn(x, y).total)

        fns = {"plain": plain}
        fns.update({("floor", beta): floor(math.ceil(beta * B)) for beta in fractions})
        fns.update({key: soft_step(loss_fn) for key, loss_fn in losses.items()})
        t = interleaved(fns, repeats=repeats or (30 if B <= 64 else 12 if B <= 256 else 8), device=device)
        for beta in fractions:
            for fused in (False, True):
                soft_ratio, floor_ratio = t[(beta, fused)] / t["plain"], t[("floor", beta)] / t["plain"]
                lines.append(f"| {B} | {beta:g} | {'yes' if fused else 'no'} | {t[(beta, fused)] * 1e3:.2f} | "
                             f"{t['plain'] * 1e3:.2f} | {t[('floor', beta)] * 1e3:.2f} | {soft_ratio:.3f}× | "
                             f"{floor_ratio:.3f}× | {soft_ratio - floor_ratio:+.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", default="abcde", help="which comparisons to run, e.g. 'ab'")
    parser.add_argument("--no-3d", action="store_true", help="skip the octahedral data action")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch-sizes", default=None,
                        help="comma-separated batch sizes of (c), (d) and (e) (default: 64,1024 and 64,256,1024)")
    parser.add_argument("--repeats", type=int, default=None, help="turns of (c), (d) and (e) (default: by batch size)")
    parser.add_argument("--out", default=None, help="also write the table (markdown) to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    steps = {} if args.batch_sizes is None else {"batches": tuple(int(b) for b in args.batch_sizes.split(","))}
    steps["repeats"] = args.repeats
    rows: list = []
    if "a" in args.only:
        bench_latent(args.device, rows)
    if "b" in args.only:
        bench_data(args.device, rows, three_d=not args.no_3d)
    if "c" in args.only:
        bench_step(args.device, rows, **steps)
    if "d" in args.only:
        bench_compiled(args.device, rows, **steps)
    lines = header("benchmarks/bench_core.py", args.device) + ["",
             "(a), (b): A / B is the speed-up of escnn_soft (target ≥ 10×, ≥ 50× in 2D, ≥ 15× in 3D); "
             "(c): A / B is the cost of a soft step relative to a plain one (target ≤ 2.05×), and of two plain "
             "passes in one step (the floor); (d): A / B is the time of a compiled soft step relative to an eager "
             "one.", "",
             "| comparison | case | A | A median (ms) | B | B median (ms) | A / B |",
             "| --- | --- | --- | ---: | --- | ---: | ---: |"]
    for what, case, a, ta, b, tb in rows:
        lines.append(f"| {what} | {case} | {a} | {ta * 1e3:.3f} | {b} | {tb * 1e3:.3f} | {ta / tb:.2f}× |")
    if "e" in args.only:
        lines += bench_pairs(args.device, **steps)
    text = "\n".join(lines)
    publish(text, args.out)


if __name__ == "__main__":
    main()
