"""``python -m kamcore`` runs the ``kamcore`` command."""

import sys

from .cli import main

sys.exit(main())
