"""``python -m g2l_automl.cli``: the same as the ``g2l-optimize`` console script."""

import sys

from g2l_automl.cli._main import main

sys.exit(main())
