"""How part orders read in a timeline: the part order form's labels, and what an order
and its lines mean."""

from fieldsvc.audit.wording import Facts, Wording, form_labels, register
from fieldsvc.parts.forms import EditPartForm, EditSupplierForm
from fieldsvc.parts.models import Part, PartOrder, PartOrderLine, Supplier
from fieldsvc.proposals.forms import OrderLineForm, PartOrderForm


def _line(facts: Facts) -> str:
    """'3 × PTX-400 pressure transmitter', as the order lists it."""  # noqa: RUF002
    return f"{facts.word('quantity')} × {facts.word('description')}"  # noqa: RUF001


def _order_started(facts: Facts) -> str:
    """'Part order PO-7781 from Precision Instruments Supply: 3 × PTX-400 …, expected …'."""  # noqa: RUF002
    number = f" {facts.word('po_number')}" if facts.raw.get("po_number") else ""
    told = f"Part order{number} from {facts.word('supplier_id')}"
    lines = [_line(part) for part in facts.parts_of("PartOrderLine")]
    if lines:
        told += ": " + ", ".join(lines)
    if facts.raw.get("expected_on"):
        told += f"; delivery expected {facts.word('expected_on')}"
    return told


def _order_changed(facts: Facts) -> str | None:
    if not facts.changed("status"):
        return None
    order = f" {facts.record}" if facts.record is not None else ""
    return f"Part order{order}: {facts.lower('status')}"


register(
    PartOrder,
    Wording(
        noun="part order",
        labels=form_labels(PartOrderForm) | {"status": "Status", "received_on": "Received on"},
        part_of="incident_id",
        subject=lambda order: str(order),
        created=_order_started,
        changed=_order_changed,
    ),
)
register(
    PartOrderLine,
    Wording(
        noun="part order line",
        labels=form_labels(OrderLineForm, quantity="Quantity"),
        # The description is the catalogue part's, as it was ordered.
        hidden=frozenset({"part_id"}),
        part_of="part_order_id",
        told_with_parent=True,
        created=lambda facts: f"Added {_line(facts)} to the part order",
        brief=_line,
    ),
)
register(
    Supplier, Wording(noun="supplier", labels=form_labels(EditSupplierForm) | {"active": "Active"})
)
register(Part, Wording(noun="part", labels=form_labels(EditPartForm) | {"active": "Active"}))
