"""`python -m bcvlr.workflow job|summary`."""

import sys

from bcvlr.workflow import main

sys.exit(main())
