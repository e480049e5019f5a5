"""``python -m unroll`` runs the command line."""

import sys

from unroll.cli import main

sys.exit(main())
