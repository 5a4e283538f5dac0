import sys

from gair.cli import main

sys.exit(main())
