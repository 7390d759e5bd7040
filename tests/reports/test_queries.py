"""The reports page runs as many queries for 30 incidents as for 3: the database adds
up the figures."""

from datetime import timedelta

from fieldsvc.auth.models import Role, Team, User
from fieldsvc.extensions import db
from fieldsvc.incidents.models import CauseCategory
from fieldsvc.portal.models import ResponseKind
from tests.reports.conftest import utc


def test_reports_page_queries_do_not_grow_with_the_incidents(
    client, company_time, make_team, make_user, make_site, make_incident, make_offer, count_queries
):
    team = make_team()
    supervisor = make_user(Role.SUPERVISOR, team=team)
    team_id = team.id
    technician_ids = [make_user(Role.TECHNICIAN, team=team).id for _ in range(3)]
    causes = list(CauseCategory)

    def add_incidents(count: int, start: int) -> None:
        team = db.session.get(Team, team_id)
        technicians = [db.session.get(User, user_id) for user_id in technician_ids]
        for n in range(start, start + count):
            site = make_site()
            site.customer.team = team
            reported = utc(1, 1, 12) + timedelta(days=5 * n)
            incident = make_incident(
                actor=technicians[n % 3],
                site=site,
                now=reported,
                cause_category=causes[n % len(causes)],
            )
            make_offer(
                incident,
                sent_at=reported + timedelta(hours=n + 1),
                pays="100.00",
                tax="6.25",
                absorb="250.00",
                answer=ResponseKind.ACCEPTED,
                answered_at=reported + timedelta(days=1),
            )
        db.session.commit()

    db.session.commit()
    client.sign_in(supervisor.email)

    def queries() -> tuple[int, str]:
        db.session.expunge_all()  # count what a fresh request runs, not the test's cache
        with count_queries() as statements:
            response = client.get("/reports?from=2026-01-01&to=2026-06-30")
            assert response.status_code == 200
        return len(statements), response.get_data(as_text=True)

    add_incidents(3, 0)
    few, page = queries()
    assert "USD 750.00" in page  # absorbed by the three

    add_incidents(27, 3)
    many, page = queries()
    assert "USD 7,500.00" in page  # by the thirty
    assert few == many
