"""``python -m rag.bench``."""

import sys

from rag.bench import main

sys.exit(main())
