"""What every status-page test starts from: the broken transmitters with the offer
sent, its link's token, and a browser without an account."""

import pytest

from tests.proposals.broken_transmitters import BrokenTransmitters, build_broken_transmitters, send


@pytest.fixture
def seed(app) -> BrokenTransmitters:
    return build_broken_transmitters()


@pytest.fixture
def token(seed) -> str:
    return send(seed)


@pytest.fixture
def customer(app):
    """A browser without an account."""
    return app.test_client()
