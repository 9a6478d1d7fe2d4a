import sys

from amdcgan.cli import main

sys.exit(main())
