"""Addresses built in templates: the same as Flask's `url_for`, wherever the app is mounted,
however often they were built before."""

import pytest
from flask import url_for
from werkzeug.routing import IntegerConverter

from fieldsvc import create_app
from fieldsvc.template_filters import template_url_for
from tests.conftest import test_config as config_for


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    database = tmp_path_factory.mktemp("addresses") / "unused.sqlite3"
    return create_app(config_for(f"sqlite:///{database}"))


def _endpoints_taking_only_ids(app) -> list[tuple[str, tuple[str, ...]]]:
    return [
        (rule.endpoint, tuple(sorted(rule.arguments)))
        for rule in app.url_map.iter_rules()
        if rule.arguments
        and all(isinstance(rule._converters[name], IntegerConverter) for name in rule.arguments)
    ]


@pytest.mark.parametrize("mount_point", ["", "/fieldsvc", "/field service"])
def test_every_address_of_ids_is_the_one_url_for_builds_under_any_mount_point(app, mount_point):
    endpoints = _endpoints_taking_only_ids(app)
    assert ("incidents.photo", ("attachment_id", "incident_id")) in endpoints

    for ids in ([7, 42, 1], [1000001, 0, 99], [42, 7, 7]):
        with app.test_request_context("/", base_url=f"http://localhost{mount_point}"):
            for endpoint, names in endpoints:
                values = dict(zip(names, ids, strict=False))
                expected = url_for(endpoint, **values)
                # In the order given and in the other order, the second time from what the
                # first kept.
                assert template_url_for(endpoint, **values) == expected
                backwards = dict(reversed(values.items()))
                assert template_url_for(endpoint, **backwards) == url_for(endpoint, **backwards)


def test_an_address_with_an_id_and_other_values_is_built_by_url_for(app):
    with app.test_request_context("/", base_url="http://localhost/fieldsvc"):
        thumbnail = template_url_for(
            "incidents.photo", incident_id=3, attachment_id=5, size="thumbnail"
        )
        earlier = template_url_for("incidents.detail", incident_id=3, timeline="all")
        asked_as_text = template_url_for("incidents.detail", incident_id="3")

    assert thumbnail == "/fieldsvc/incidents/3/photos/5/thumbnail"
    assert earlier == "/fieldsvc/incidents/3?timeline=all"
    assert asked_as_text == "/fieldsvc/incidents/3"


def test_the_incident_pages_photo_links_follow_the_mount_point(app):
    with app.test_request_context("/", base_url="http://localhost/a"):
        first = template_url_for("incidents.photo", incident_id=3, attachment_id=5)
    with app.test_request_context("/", base_url="http://localhost/b"):
        second = template_url_for("incidents.photo", incident_id=3, attachment_id=5)
        other_photo = template_url_for("incidents.photo", incident_id=4, attachment_id=50)

    assert (first, second) == ("/a/incidents/3/photos/5", "/b/incidents/3/photos/5")
    assert other_photo == "/b/incidents/4/photos/50"


def test_an_address_whose_rule_depends_on_the_id_is_built_each_time():
    app = create_app(config_for("sqlite://"))

    def pages(page: int) -> str:
        return ""

    app.add_url_rule("/pages/", "pages", pages, defaults={"page": 1})
    app.add_url_rule("/pages/<int:page>", "pages", pages)

    with app.test_request_context("/"):
        later = template_url_for("pages", page=2)
        first = template_url_for("pages", page=1)

    assert (later, first) == ("/pages/2", "/pages/")
