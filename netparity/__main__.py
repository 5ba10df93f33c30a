"""``python -m netparity``: the same command line as ``netparity`` and ``compare.py``."""

import sys

from netparity.cli import main

sys.exit(main())
