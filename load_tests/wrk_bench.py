"""Replaced by ``hcgw-load bench`` (load_tests/bench), which measures the same scenarios with wrk
beside the limits, the peers and open-loop latency, and writes BENCHMARKS.md.

    hcgw-load bench --seconds 5          (or python -m load_tests bench --seconds 5)
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    print(__doc__, file=sys.stderr)
    sys.exit(2)
