import sys

from filmrt.cli.main import main

sys.exit(main())
