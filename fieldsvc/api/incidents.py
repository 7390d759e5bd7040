"""Incidents and what hangs off them (filled in below)."""

from flask_smorest import Blueprint

blp = Blueprint("api_incidents", __name__, url_prefix="/api/v1", description="Incidents")
