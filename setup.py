import re

from setuptools import find_packages, setup

VERSION = re.search(r'__version__ = "(.+)"', open("darts_nexp/version.py").read()).group(1)

setup(
    name="darts-nexp",
    version=VERSION,
    description="Differentiable architecture search (DARTS) for visual defect inspection of semiconductor parts",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["darts_nexp", "darts_nexp.*"]),
    # The configs and published genotypes that commands name (`--config demo`, `--genotype darts_v2`).
    package_data={"darts_nexp": ["configs/*.yaml", "genotypes/*.yaml"]},
    entry_points={"console_scripts": ["darts-nexp = darts_nexp.cli.main:console"]},
    # The lowest versions whose APIs the code uses (tests/test_dependencies.py checks every import is listed).
    install_requires=[
        "torch>=2.4",  # torch.amp.GradScaler(device), autograd.grad(materialize_grads=...)
        "torchvision>=0.19",  # the release paired with torch 2.4
        "numpy>=2.0",
        "scipy>=1.10",  # scipy.fft.dctn for perceptual hashes
        "graphviz>=0.20",
        "pyyaml>=6.0",
        "tensorboard>=2.14",
        "markdown>=3.4",  # the protocol's summary.md in darts-nexp report (tensorboard needs it too)
        "pillow>=10.0",  # 16-bit modes I;16 / I;16B read as such
        "scikit-learn>=1.3",
        "matplotlib>=3.7",
        "tqdm>=4.64",
        "tyro>=1.0",  # ConstructorRegistry passed as tyro.cli(registry=...)
        "typeguard>=4.0",  # check_type(collection_check_strategy=...)
        "captum>=0.8",  # LayerGradCam for explain (numpy 2 support)
        "onnx>=1.16",  # metadata_props of exported models
        "onnxruntime>=1.17",  # scoring and timing exported models without torch
    ],
    extras_require={"test": ["pytest>=7.0"]},
)
