"""/healthz, /readyz and /metrics: for load balancers, orchestrators and Prometheus.

No sign-in and no session: Flask only sets a session cookie when the session changes
or was read, and these views touch neither it nor the signed-in user. They are exempt
from rate limits (a load balancer asks every few seconds from one address) and from the
HTTPS redirect (a load balancer checks a server over plain HTTP on the inside).
"""

import hmac

from flask import Blueprint, abort, current_app, jsonify, request

from fieldsvc.extensions import limiter, talisman
from fieldsvc.ops import metrics, readiness

bp = Blueprint("ops", __name__)
limiter.exempt(bp)


@bp.get("/healthz")
@talisman(force_https=False)
def healthz():
    """The process answers; nothing else is asked (a database outage must not get every
    app server restarted)."""
    return jsonify(status="alive")


@bp.get("/readyz")
@talisman(force_https=False)
def readyz():
    results = readiness.run_checks()
    ready = all(result.ok for result in results)
    checks = {
        result.name: {"state": "ok"} if result.ok else {"state": "failing", "reason": result.reason}
        for result in results
    }
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
@talisman(force_https=False)
def prometheus_metrics():
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        abort(404)  # off until an operator sets FIELDSVC_METRICS_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(offered.encode(), token.encode()):
        response = jsonify(error="a bearer token is required")
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return metrics.response()
