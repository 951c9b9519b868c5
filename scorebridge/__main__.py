"""``python -m scorebridge``: the same as the ``scorebridge`` console script."""

import sys

from scorebridge.cli import main

sys.exit(main())
