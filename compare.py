#!/usr/bin/env python3
"""Run the same network on NumPy, PyTorch, TensorFlow and Keras and compare them number by number.

A thin wrapper kept for checkouts: ``python compare.py ...`` is ``netparity ...`` (see
``netparity/cli.py`` or ``--help`` for the flags).
"""

import sys

from netparity.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="compare.py"))
