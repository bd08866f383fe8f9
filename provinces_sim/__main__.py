import sys

from provinces_sim.cli import main

sys.exit(main())
