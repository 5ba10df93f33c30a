"""Packaging layout only (everything else is in pyproject.toml).

The repository keeps ``spec/``, ``backends/`` and ``harness/`` at its root; installed, they
become subpackages of the one ``netparity`` package, so nothing else lands at the top level of
site-packages.
"""

from setuptools import find_packages, setup

SUBPACKAGES = ("spec", "backends", "harness")

packages = ["netparity"]
for root in SUBPACKAGES:
    packages += [f"netparity.{root}"] + [f"netparity.{root}.{sub}" for sub in find_packages(root)]

setup(
    packages=packages,
    package_dir={"netparity": "netparity", **{f"netparity.{root}": root for root in SUBPACKAGES}},
)
