import sys

from lfl.cli import main

sys.exit(main())
