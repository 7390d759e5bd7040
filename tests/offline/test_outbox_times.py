"""The outbox writes when an item was saved as the pages write a time: the page gives it
the abbreviations of the reader's zone, by UTC offset."""

import json

from fieldsvc.outbox.views import _zone_names


def test_a_zone_with_summer_time_is_named_as_the_pages_name_it_in_each_season():
    assert json.loads(_zone_names("Europe/Berlin", 2026)) == {"60": "CET", "120": "CEST"}
    assert json.loads(_zone_names("America/New_York", 2026)) == {"-300": "EST", "-240": "EDT"}


def test_a_zone_without_summer_time_has_one_name():
    assert json.loads(_zone_names("Asia/Tokyo", 2026)) == {"540": "JST"}
