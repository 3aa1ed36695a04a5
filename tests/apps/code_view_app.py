"""The sidebar and its "View as code", as main.py draws them (no call widget)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from components import code_view, sidebar

code_view.render(sidebar.render())
