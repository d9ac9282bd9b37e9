"""Installs the ``lemons``, ``recsys`` and ``explanations`` packages and the ``lemons`` command."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent


def requirements(name: str = "requirements.txt") -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="lemons",
    version="0.1.0",
    description="LEMONS: listenable explanations for music recommender systems",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["lemons", "lemons.*", "recsys", "explanations", "explanations.*"]),
    install_requires=requirements(),
    extras_require={"scale": requirements("requirements-scale.txt")},  # lemons precompute on Ray
    entry_points={"console_scripts": ["lemons = lemons.cli:main"]},
)
