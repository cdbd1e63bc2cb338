"""Let the report tests import the test helpers of sibling test packages (``experiments.evaluation_rows``).

Under ``--import-mode=importlib`` a test package is importable only once pytest has collected a module of it; the
tests directory is appended to ``sys.path`` so the detector-report tests also run on their own.
"""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
