"""What an event tells a receiver: ids, references, states, the external ids an ERP
knows its records by, and a link to the API resource to read the rest.

Only what an admin may read in the app anyway, and never what is kept from the
customer or gives access on their behalf: no internal cause, technician's statement or
claim reference, no status-page link or token. A receiver that wants more reads the
API with a token whose scopes decide what it sees.
"""

from datetime import UTC, date, datetime
from typing import Any

from flask import current_app
from werkzeug.routing import BuildError

from fieldsvc.incidents.models import FollowUp, Incident
from fieldsvc.parts.models import PartOrder
from fieldsvc.portal.models import CustomerResponse
from fieldsvc.proposals.models import ProposalRevision

Subject = Incident | PartOrder | ProposalRevision | CustomerResponse | FollowUp


def data_of(subject: Subject) -> dict[str, Any]:
    """The event's `data` for the thing it is about."""
    if isinstance(subject, Incident):
        return {"incident": _incident(subject)}
    if isinstance(subject, PartOrder):
        return {"part_order": _part_order(subject), "incident": _incident_ref(subject.incident)}
    if isinstance(subject, ProposalRevision):
        return {
            "proposal": _revision(subject),
            "incident": _incident_ref(subject.proposal.incident),
        }
    if isinstance(subject, CustomerResponse):
        revision = subject.revision
        return {
            "proposal": _revision(revision),
            "answer": {
                "kind": subject.kind.value,
                "channel": subject.channel.value,
                "answered_at": _time(subject.created_at),
            },
            "incident": _incident_ref(revision.proposal.incident),
        }
    if isinstance(subject, FollowUp):
        return {
            "follow_up": {
                "id": subject.id,
                "due_at": _time(subject.due_at),
                "owner": {"id": subject.owner.id, "name": subject.owner.name},
                "url": _api_link("api_incidents.list_follow_ups", incident_id=subject.incident_id),
            },
            "incident": _incident_ref(subject.incident),
        }
    raise TypeError(f"no webhook payload for {type(subject).__name__}")


def _incident_ref(incident: Incident) -> dict[str, Any]:
    customer = incident.customer
    return {
        "id": incident.id,
        "reference": incident.reference,
        "status": incident.status.value,
        "customer": {"id": customer.id, "external_id": customer.external_id, "name": customer.name},
        "url": _api_link("api_incidents.get_incident", incident_id=incident.id),
    }


def _incident(incident: Incident) -> dict[str, Any]:
    site = incident.site
    return {
        **_incident_ref(incident),
        "severity": incident.severity.value,
        "reported_via": incident.reported_via.value,
        "occurred_at": _time(incident.occurred_at),
        "resolved_at": _time(incident.resolved_at),
        "site": site and {"id": site.id, "external_id": site.external_id, "name": site.name},
        "equipment": [
            {"id": item.id, "external_id": item.external_id, "tag": item.tag}
            for item in incident.equipment
        ],
    }


def _part_order(order: PartOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "po_number": order.po_number,
        "status": order.status.value,
        "expected_on": _day(order.expected_on),
        "supplier": {"id": order.supplier.id, "name": order.supplier.name},
        "url": _api_link("api_proposals.get_part_order", order_id=order.id),
    }


def _revision(revision: ProposalRevision) -> dict[str, Any]:
    return {
        "id": revision.proposal_id,
        "revision": revision.number,
        "status": revision.status.value,
        "url": _api_link("api_proposals.get_proposal", proposal_id=revision.proposal_id),
    }


def _api_link(endpoint: str, **values: Any) -> str | None:
    """FIELDSVC_BASE_URL and the API path; built from the URL map, as the periodic scan
    runs outside a request."""
    try:
        path = current_app.url_map.bind("").build(endpoint, values)
    except BuildError:
        return None
    return current_app.config["BASE_URL"] + path


def _time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None
