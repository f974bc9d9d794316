import sys

from liif_plugin.cli.main import main

sys.exit(main())
