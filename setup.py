from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="g2l_automl",
    version="0.1.0",
    description="Receptive-field and temporal architecture search for video models, as Optuna and NNI plugins",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["g2l_automl", "g2l_automl.*"]),
    python_requires=">=3.10",
    # torch is pinned loosely: install `torch==2.13.0` first (the CPU wheel) so no multi-GB CUDA build is pulled.
    install_requires=[
        "numpy>=1.24",
        "torch>=2.1",
        "tqdm>=4.60",
        "optuna>=5.0,<6",
        "optuna-dashboard>=0.16",
        "pyyaml>=6",
        "scipy>=1.10",  # Optuna's GPSampler
        "cmaes>=0.10",  # Optuna's CmaEsSampler
        "plotly>=5",  # optuna.visualization
        "scikit-learn>=1.2",  # average precision (video-level mAP)
        "ninja>=1.11",  # builds the fused EGI kernel (torch.utils.cpp_extension)
        "nni==3.0",  # the last release (upstream is archived); g2l_automl.nni works around its known bugs
        "setuptools<82",  # nnictl imports pkg_resources, which setuptools 82 removed
        # the driver that SQLAlchemy 2.1 picks for a plain postgresql:// URL, so the documented storage URL works
        "psycopg[binary]>=3.1",
    ],
    # optunahub: tests/test_optunahub_packages.py loads optunahub/package/* with optunahub.load_local_module
    extras_require={"test": ["pytest>=7", "ruff>=0.4", "optunahub>=0.5"]},
    entry_points={"console_scripts": ["g2l-optimize=g2l_automl.cli:main"]},
)
