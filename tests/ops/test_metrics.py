"""/metrics as Prometheus scrapes it: counted by route name, behind a bearer token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from fieldsvc.ops import metrics

TOKEN = "scrape-" + "5ec" * 10


@pytest.fixture
def scraper(app):
    app.config["METRICS_TOKEN"] = TOKEN

    def scrape() -> dict[tuple[str, frozenset], float]:
        response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=")
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples
        }

    return scrape


def responses(route: str, status: str, method: str = "GET") -> tuple[str, frozenset]:
    labels = {"route": route, "method": method, "status": status}
    return ("fieldsvc_http_responses_total", frozenset(labels.items()))


def latency_count(route: str, method: str = "GET") -> tuple[str, frozenset]:
    labels = {"route": route, "method": method}
    return ("fieldsvc_http_request_duration_seconds_count", frozenset(labels.items()))


def test_a_request_is_counted_under_its_route_name_never_its_path(
    client, scraper, make_user, make_team, make_incident
):
    team = make_team()
    user = make_user(team=team)
    incident = make_incident(actor=user)
    client.sign_in(user.email)
    before = scraper()

    assert client.get(f"/incidents/{incident.id}").status_code == 200
    assert client.get("/incidents/987654321").status_code == 404
    after = scraper()

    def grew(key) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert grew(responses("incidents.detail", "200")) == 1
    assert grew(responses("incidents.detail", "404")) == 1
    assert grew(latency_count("incidents.detail")) == 2
    labels = {value for _, label_set in after for _, value in label_set}
    assert not any("987654321" in value or "/incidents" in value for value in labels)


def test_a_path_no_route_knows_is_counted_as_unmatched(client, scraper):
    before = scraper().get(responses("unmatched", "404"), 0)

    client.get("/no/such/page/12345")

    assert scraper()[responses("unmatched", "404")] == before + 1


def test_metrics_are_refused_without_the_token(client, app):
    app.config["METRICS_TOKEN"] = TOKEN

    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "fieldsvc_http" not in response.get_data(as_text=True)


def test_metrics_are_off_until_a_token_is_configured(client, app):
    app.config["METRICS_TOKEN"] = ""

    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_a_feature_registers_a_gauge_read_at_scrape_time(scraper, monkeypatch):
    monkeypatch.setattr(metrics, "_readings", {})
    waiting = [3]
    metrics.register_gauge("fieldsvc_queue_depth", "Jobs waiting to run.", lambda: waiting[0])

    assert scraper()[("fieldsvc_queue_depth", frozenset())] == 3
    waiting[0] = 0
    assert scraper()[("fieldsvc_queue_depth", frozenset())] == 0


def test_job_failures_are_counted_by_job(scraper):
    key = ("fieldsvc_job_failures_total", frozenset({"job": "deliver_email"}.items()))
    before = scraper().get(key, 0)

    metrics.JOB_FAILURES.labels(job="deliver_email").inc()

    assert scraper()[key] == before + 1
