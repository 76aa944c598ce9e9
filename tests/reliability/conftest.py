"""Fixtures the reliability suite shares with the rest of the tests."""

from tests.web import route_walk

# One record of each kind the app's URLs name (see tests/web/route_walk.py).
samples = route_walk.samples
