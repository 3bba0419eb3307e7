import sys

from tableorder.cli import main

sys.exit(main())
