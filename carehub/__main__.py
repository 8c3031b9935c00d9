import sys

from carehub.cli import main

sys.exit(main())
