"""The navigation's links: the same on every page, and right wherever the app is mounted."""

import re

from fieldsvc.auth.models import Role
from fieldsvc.extensions import db


def _nav_links(page: str) -> list[str]:
    nav = re.search(r'<nav class="mainnav".*?</nav>', page, re.S)[0]
    return re.findall(r'href="([^"]+)"', nav)


def test_the_navigation_links_follow_the_path_the_app_is_mounted_at(client, make_user):
    user = make_user(Role.SUPERVISOR)
    db.session.commit()
    client.sign_in(user.email)

    at_root = client.get("/incidents/").get_data(as_text=True)
    mounted = client.get("/my-day", base_url="http://localhost/fieldsvc")
    again_at_root = client.get("/my-day").get_data(as_text=True)

    assert _nav_links(at_root)[:3] == ["/my-day", "/incidents/", "/dashboard"]
    assert _nav_links(mounted.get_data(as_text=True))[:3] == [
        "/fieldsvc/my-day",
        "/fieldsvc/incidents/",
        "/fieldsvc/dashboard",
    ]
    assert _nav_links(again_at_root) == _nav_links(at_root)


def test_only_supervisors_and_admins_see_the_supervisors_links(client, make_user, make_team):
    technician = make_user(Role.TECHNICIAN, team=make_team())
    db.session.commit()
    client.sign_in(technician.email)

    links = _nav_links(client.get("/my-day").get_data(as_text=True))

    assert "/my-day" in links and "/incidents/" in links
    assert "/dashboard" not in links and "/users" not in links


def _linked_files(page: str) -> list[str]:
    head = re.search(r"<head>.*?</head>", page, re.S)[0]
    return re.findall(r'(?:href|src)="([^"]+)"', head)


def test_stylesheets_and_scripts_follow_the_path_the_app_is_mounted_at(client, make_user):
    user = make_user(Role.SUPERVISOR)
    db.session.commit()
    client.sign_in(user.email)

    at_root = _linked_files(client.get("/incidents/").get_data(as_text=True))
    mounted = _linked_files(
        client.get("/incidents/", base_url="http://localhost/fieldsvc").get_data(as_text=True)
    )
    again_at_root = _linked_files(client.get("/incidents/").get_data(as_text=True))

    assert any(re.fullmatch(r"/static/css/app\.[0-9a-f]{12}\.css", link) for link in at_root)
    assert mounted == ["/fieldsvc" + link for link in at_root]
    assert again_at_root == at_root
