"""Copy the browser tests' screenshots that the README and docs/ show into docs/images/
(and the outbox's into docs/screenshots/), as palette PNGs (Pillow), so the committed
images stay small.

Run by `make docs-screenshots` after tests/browser/test_tour.py (and the browser tests
that take the customer-record, recorded-answer and outbox screenshots) saved them under
tests/artifacts/: the tests never write into docs/ themselves.
"""

import sys
from pathlib import Path

from PIL import Image

from tests.conftest import ARTIFACTS

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOCS_IMAGES = DOCS / "images"
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
OUTBOX = ("outbox-waiting-768", "outbox-needs-you-768")
BUDGET_BYTES = 2_000_000


def publish() -> int:
    """Write the chosen screenshots into docs/; return their total size in bytes."""
    total = 0
    chosen = [(name, DOCS_IMAGES) for name in CHOSEN]
    chosen += [(name, DOCS / "screenshots") for name in OUTBOX]
    for name, folder in chosen:
        source = ARTIFACTS / f"{name}.png"
        if not source.exists():
            raise SystemExit(f"{source} is missing: run `make docs-screenshots`")
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{name}.png"
        with Image.open(source) as image:
            # 256 colours are plenty for a page of flat UI colours and anti-aliased text.
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                target, optimize=True
            )
        total += target.stat().st_size
        print(f"{target.relative_to(DOCS.parent)}: {target.stat().st_size:,} bytes")
    print(f"{len(chosen)} images, {total:,} bytes in all")
    if total > BUDGET_BYTES:
        raise SystemExit(f"the images in docs/ are over its {BUDGET_BYTES:,}-byte budget")
    return total


if __name__ == "__main__":
    sys.exit(0 if publish() else 1)
