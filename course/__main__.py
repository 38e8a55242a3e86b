"""Entry point of ``python -m course``."""
import sys

from .cli import main

sys.exit(main())
