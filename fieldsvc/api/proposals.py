"""Incidents and what hangs off them (filled in below)."""

from flask_smorest import Blueprint

blp = Blueprint("api_proposals", __name__, url_prefix="/api/v1", description="Proposals")
