r"""
Does it pay on my task?
=======================

The soft loss costs a second forward and backward pass per step and asks nothing of the
architecture; whether it buys accuracy, or only a more equivariant latent, depends on the
task. The way to know is to train the models on the same data, seeds and budget, which
is what ``escnn-soft compare`` does. This page runs one comparison from Python, through
the command's own parser and driver (:func:`escnn_soft.experiments.cli.parse_args` and
:func:`escnn_soft.experiments.comparison.compare`), and reads the reports it writes.

The settings are tiny so that the page runs in seconds on a CPU: the single-digit MNIST
task under :math:`C_4`, 500 training digits, 2 epochs, three models and two seeds. The
models are plain, soft and strict: *cnn-aug*, the plain CNN on augmented data; *soft*,
the same CNN with the soft loss; and *scnn*, a strictly :math:`C_4`-invariant steerable
CNN built from escnn layers, trained on the same augmented data. They show how to run
and read a comparison; they are far too small to answer the question.
Options of ``escnn-soft compare`` given to this script replace the tiny ones, e.g.
``python examples/04_does_it_pay.py --train-size 4000 --epochs 20 --seeds 0-2``.
"""

# %%
# The command line, parsed
# ------------------------
# ``parse_args`` takes the options of ``escnn-soft compare`` as a list and checks them
# all (task, group, models, numbers, data options) before torch or any task is loaded;
# bad ones raise :class:`~escnn_soft.experiments.options.UsageError` with one line saying
# why. The result is an :class:`~escnn_soft.experiments.options.Options`. The runs go to a
# temporary folder here, removed when the script ends; ``--out`` puts them elsewhere.

import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from escnn_soft.experiments.cli import parse_args
from escnn_soft.experiments.comparison import compare
from escnn_soft.experiments.results import select

folder = tempfile.TemporaryDirectory(prefix="escnn-soft-compare-")
tiny = ["--task", "mnist", "--models", "cnn-aug,soft,scnn", "--seeds", "0,1", "--epochs", "2", "--train-size", "500",
        "--batch-size", "64", "--out", folder.name, "--no-progress"]
options = parse_args(tiny + sys.argv[1:])      # options given to the script come last, and win
print(f"task {options.task}, group {', '.join(options.groups)}, models {', '.join(options.models)}, "
      f"seeds {list(options.seeds)}, {options.epochs} epochs on {', '.join(map(str, options.train_sizes))} digits")

# %%
# Training and the table
# ----------------------
# ``compare`` trains every model for every seed through one runner, on the same data,
# and keeps for each run the weights of the epoch with the best validation accuracy. It
# prints one line per run and, at the end, the table: test accuracy as mean ± standard
# deviation over the seeds, parameters, seconds per epoch, and the relative
# equivariance errors of the latent and of the output, measured on the test digits.
# The latent error is measured for the models whose task declares a latent and its
# action, here the 66-dim latent of cnn-aug and soft; scnn's column shows "—".

results = compare(options)

# %%
# The reports
# -----------
# The table above is also written to ``summary.md`` (and ``summary.csv``), one row per
# model; ``results.csv`` has one row per run. Every run is saved as it finishes, in
# ``runs/<name>/result.json`` with its settings, its history epoch by epoch and where it
# ran, and is never trained again: the same command reuses it, an interrupted one resumes
# from its last epoch, and ``--report-only`` rewrites the reports from the finished runs
# without reading the data.

out = Path(options.out)
print(sorted(p.name for p in out.iterdir()))
print(sorted(p.name for p in (out / "runs").iterdir()))

# %%
# ``compare.png`` plots each model's test accuracy (mean and standard deviation over the
# seeds) against its parameters and against its training time per run: soft has the
# parameters of cnn-aug and takes longer, for its second forward and backward pass;
# scnn has far fewer parameters.

fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
ax.imshow(plt.imread(out / "compare.png"))
ax.set_axis_off()
plt.show()

# %%
# Against the reference, and at equal compute
# -------------------------------------------
# Below the table, every model is compared with a reference, cnn-aug by default
# (``--reference`` picks another): the difference of the mean test scores, its 95 %
# interval and p-value from Welch's t-test over the seeds. The reports call a difference
# higher or lower only when its interval excludes 0, and say "no detectable difference"
# otherwise, with the seeds on each side. A "majority class" row gives the score of always
# answering the most common class of the test set.
#
# Per epoch, soft does twice the work of cnn-aug. So the table also scores every run at
# equal compute: the training FLOPs of one step are counted with PyTorch's
# ``FlopCounterMode`` from the run's settings, and each run is scored at its
# best-validation epoch among those that fit a budget. By default each comparison has its
# own: the smaller planned budget (planned epochs × FLOPs per epoch) of the model and the
# reference it is compared with, the difference reading both at it. For soft against
# cnn-aug that is cnn-aug's 2 epochs: a little less than one epoch of soft, so soft has no
# score at equal compute in this tiny run, and the reports say so; ``--compute-budget``
# sets one budget for every run. ``compute.png`` shows the best validation and test
# accuracy so far against the training FLOPs:

fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
ax.imshow(plt.imread(out / "compute.png"))
ax.set_axis_off()
plt.show()

# %%
# ``--lam``, ``--lr``, ``--train-size`` and ``--pair-fraction`` also take comma-separated
# lists: ``--train-size 250,1000,4000`` trains every model at each size (a data-efficiency
# curve, drawn in ``sweep.png`` at equal epochs and at equal compute, each size compared at
# its own budget), and ``--lam 0.1,1 --pair-fraction 0.25`` the soft model at each λ with
# its second pass on a quarter of each batch, while cnn-aug, which has no λ, runs once.
# The repository's ``results/mnist-efficiency`` holds that curve for this task at its real
# budget (5 seeds, 40 epochs, scored on 5,001 test digits): soft is ahead of cnn-aug at
# equal epochs from 1,000 digits on, while at equal compute no setting of soft (β = 1 or
# 0.25) is detectably ahead at any size, and soft at β = 1 is behind at 250 digits.

# %%
# Each result is also a dictionary in Python, e.g. for the latent and output
# equivariance errors of every run. A run whose training loss stopped being finite is
# recorded as diverged, without scores; ``select`` keeps the finished runs (and, with
# ``diverged=True``, the diverged ones):

for result in select(results, by_seed=False):
    config = result["config"]
    latent_error = result["latent_equivariance_error"]
    print(f"{config['model']:8s} seed {config['seed']}: test accuracy {result['test_score']:.3f}, "
          f"latent equivariance error {'—' if latent_error is None else f'{latent_error:.3f}'}, "
          f"output equivariance error {result['output_equivariance_error']:.2g}")

# %%
# Reading it
# ----------
# With two seeds the standard deviation is itself a rough guess, and two epochs on 500
# digits stop long before either model has learnt the task: differences of a few points
# here say nothing about the method. What the reports do show at once is the cost
# (time per epoch and parameters) and the equivariance each model gets: the soft loss
# lowers cnn-aug's latent error from the first epochs, and scnn's output error is at
# float rounding whatever it has learnt, since it is invariant by construction. For a
# decision, run the task's real budget with several seeds: ``escnn-soft compare`` with
# its defaults trains these three models 20 epochs on 4,000 digits, and ``--models all``
# adds the plain CNN without augmentation.
#
# What to read next
# -----------------
# * **Soft equivariance on your own model** (page 1): the same loss in your own
#   training loop, with the per-epoch terms this table summarises.
# * :mod:`escnn_soft.experiments.cli`: every option of ``escnn-soft compare``, including
#   parallel runs, clusters and early stopping.
