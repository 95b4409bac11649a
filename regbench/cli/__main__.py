"""``python -m regbench.cli``: the ``regbench`` command."""

import sys

from regbench.cli import main

sys.exit(main())
