"""``python -m chinwag``: the desktop app."""

import sys

from chinwag.entrypoints.gui import main

sys.exit(main())
