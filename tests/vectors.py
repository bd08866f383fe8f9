"""Where the shared test vectors live, for every test module that reads them.

The repository is cloned next to ``shared/`` (``<clone>/../shared/vectors``); set
``HCGW_SHARED_DIR`` to the ``shared`` directory to run the tests from anywhere else.
Import it as ``from vectors import load_json`` (pytest puts ``tests/`` on the path).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SHARED = Path(
    os.environ.get("HCGW_SHARED_DIR") or Path(__file__).resolve().parents[1].parent / "shared"
)
VECTORS = SHARED / "vectors"


def load_json(rel: str) -> Any:
    """Parse ``shared/vectors/<rel>``, e.g. ``load_json("wycheproof/ed25519_test.json")``."""
    return json.loads((VECTORS / rel).read_text(encoding="utf-8"))
