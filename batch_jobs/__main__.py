"""``python -m batch_jobs COMMAND ...``: the ``scorebridge batch`` commands on their own."""

import sys

from batch_jobs.cli import main

sys.exit(main())
