"""`python -m bcvlr.workflow job` (a config's jobs and cost: `bcvlr validate-config FILE`)."""

import sys

from bcvlr.workflow import main

sys.exit(main())
