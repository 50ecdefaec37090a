"""`python -m xerosync` is the `xerosync` command."""

import sys

from xerosync.cli import main

sys.exit(main())
