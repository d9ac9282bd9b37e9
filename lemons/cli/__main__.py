"""``python -m lemons.cli``: the ``lemons`` command."""

import sys

from lemons.cli import main

sys.exit(main())
