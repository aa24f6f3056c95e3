"""``python -m flowkit.cli`` runs the ``flowkit`` command."""

import sys

from .main import main

sys.exit(main())
