from setuptools import find_packages, setup

setup(
    name="darts-nexp",
    version="0.1.0",
    description="Differentiable architecture search (DARTS) for visual defect inspection of semiconductor parts",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["darts_nexp", "darts_nexp.*"]),
    install_requires=[
        "torch>=2.4",
        "torchvision>=0.19",
        "numpy",
        "graphviz",
        "pyyaml",
        "tensorboard",
        "pillow",
        "scikit-learn",
        "matplotlib",
        "tqdm",
    ],
    extras_require={"test": ["pytest"]},
)
