"""Make the repository importable when pytest is started as `.venv/bin/pytest` (no package install yet)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
