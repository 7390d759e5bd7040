"""Copy the browser tests' screenshots that the README and docs/ show into docs/images/,
as palette PNGs (Pillow), so the committed images stay small.

Run by `make docs-screenshots` after tests/browser/test_tour.py (and the two browser
tests that take the customer-record and recorded-answer screenshots) saved them.
"""

import sys
from pathlib import Path

from PIL import Image

from tests.conftest import ARTIFACTS

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
CHOSEN = (
    "tour-02-report-incident",
    "tour-03-incident",
    "tour-04-order-parts",
    "tour-05-parts-ordered",
    "tour-06-draft-offer",
    "tour-07-approve",
    "tour-08-sent",
    "tour-09-status-page",
    "tour-10-accepted",
    "tour-11-dashboard",
    "tour-12-proposal-pdf",
    "customer-tablet",
    "record-answer-form-tablet",
)
BUDGET_BYTES = 2_000_000


def publish() -> int:
    """Write the chosen screenshots to docs/images/; return their total size in bytes."""
    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    total = 0
    for name in CHOSEN:
        source = ARTIFACTS / f"{name}.png"
        if not source.exists():
            raise SystemExit(f"{source} is missing: run `make docs-screenshots`")
        target = DOCS_IMAGES / f"{name}.png"
        with Image.open(source) as image:
            # 256 colours are plenty for a page of flat UI colours and anti-aliased text.
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                target, optimize=True
            )
        total += target.stat().st_size
        print(f"{target.relative_to(DOCS_IMAGES.parents[1])}: {target.stat().st_size:,} bytes")
    print(f"{len(CHOSEN)} images, {total:,} bytes in all")
    if total > BUDGET_BYTES:
        raise SystemExit(f"docs/images/ is over its {BUDGET_BYTES:,}-byte budget")
    return total


if __name__ == "__main__":
    sys.exit(0 if publish() else 1)
