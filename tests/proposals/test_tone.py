"""The tone check on customer-facing text: plain functions over the rules file, no database."""

from pathlib import Path

import pytest

from fieldsvc.proposals.tone import (
    MISSING_APOLOGY,
    MISSING_NEXT_STEP,
    NEXT_STEP_WITHOUT_DATE,
    RULES_PATH,
    ToneRulesError,
    ToneWarning,
    check_tone,
    default_rules,
    load_rules,
)

APOLOGY = "We are sorry this happened."
NEXT_STEP = "Our technician will return on 24 November at 08:00."

# The broken transmitters, told the way the customer should hear it.
GOOD_TEXT = (
    "We are sorry: our technician damaged two of your transmitters during calibration. "
    "We have already ordered three replacements, arriving tomorrow. Our technician will "
    "return on 24 November at 08:00 to install and calibrate them."
)


def phrase_warnings(text: str) -> list[ToneWarning]:
    built_in = {MISSING_APOLOGY, MISSING_NEXT_STEP, NEXT_STEP_WITHOUT_DATE}
    return [w for w in check_tone(text) if w.rule_id not in built_in]


def rule_ids(text: str) -> list[str]:
    return [warning.rule_id for warning in check_tone(text)]


def test_shipped_rules_load_with_at_least_twelve_phrase_rules():
    rules = load_rules(RULES_PATH)

    assert len(rules.phrases) >= 12
    assert all(rule.message and rule.suggestion for rule in rules.phrases)
    assert default_rules() is default_rules()


def test_the_good_broken_transmitters_text_gives_no_warnings():
    assert check_tone(GOOD_TEXT) == []


@pytest.mark.parametrize(
    ("sentence", "rule_id", "excerpt"),
    [
        ("You should have called us first.", "blame-you-should-have", "You should have"),
        ("You should've told us.", "blame-you-should-have", "You should've"),
        ("As I said, the unit was old.", "dismissive-as-i-said", "As I said"),
        ("As we already explained, it was old.", "dismissive-as-i-said", "As we already explained"),
        ("This is not covered by our policy.", "process-our-policy", "our policy"),
        ("Per our policy, labour is charged.", "process-our-policy", "Per our policy"),
        ("Please calm down.", "dismissive-calm-down", "calm down"),
        (
            "Unfortunately there is nothing we can do.",
            "dismissive-nothing-we-can-do",
            "Unfortunately there is nothing we can do",
        ),
        ("It's not our fault.", "blame-not-our-fault", "It's not our fault"),
        ("You failed to isolate the line.", "blame-you-failed-to", "You failed to"),
        ("Obviously the seal was worn.", "dismissive-obviously", "Obviously"),
        ("As you should know, seals wear.", "dismissive-as-you-should-know", "As you should know"),
        ("That's not possible.", "dismissive-not-possible", "That's not possible"),
        (
            "No one else has complained.",
            "dismissive-no-one-else-complained",
            "No one else has complained",
        ),
        ("It's the supplier's fault.", "blame-company-or-supplier", "It's the supplier's fault"),
        ("You're wrong about the invoice.", "dismissive-you-are-wrong", "You're wrong"),
        (
            "Next time, please use the portal.",
            "process-next-time",
            "Next time, please use",
        ),
    ],
)
def test_each_blame_or_dismissive_phrase_is_caught_with_its_excerpt_and_suggestion(
    sentence, rule_id, excerpt
):
    warnings = phrase_warnings(f"{APOLOGY} {sentence} {NEXT_STEP}")

    assert [(w.rule_id, w.excerpt) for w in warnings] == [(rule_id, excerpt)]
    rule = next(rule for rule in default_rules().phrases if rule.id == rule_id)
    assert warnings[0].suggestion == rule.suggestion
    assert warnings[0].message == rule.message
    assert warnings[0].kind == rule.kind


def test_a_missing_apology_is_reported_with_a_suggestion():
    warnings = check_tone("Three replacements are ordered. " + NEXT_STEP)

    assert [w.rule_id for w in warnings] == [MISSING_APOLOGY]
    assert warnings[0].excerpt is None
    assert warnings[0].suggestion == default_rules().apology.suggestion


@pytest.mark.parametrize(
    "acknowledgement",
    [
        "We apologise for the damage.",
        "Please accept our apologies.",
        "This was our mistake.",
        "We understand how disruptive this is.",
        "I can tell you're upset.",
    ],
)
def test_an_apology_or_acknowledgement_in_other_words_counts(acknowledgement):
    assert rule_ids(f"{acknowledgement} {NEXT_STEP}") == []


def test_a_missing_next_step_is_reported():
    assert rule_ids("We are sorry: two transmitters were damaged.") == [MISSING_NEXT_STEP]


def test_a_next_step_without_a_date_is_still_a_warning():
    warnings = check_tone("We are sorry. Our technician will return to install them.")

    assert [w.rule_id for w in warnings] == [NEXT_STEP_WITHOUT_DATE]
    assert warnings[0].suggestion == default_rules().dates.suggestion


def test_a_past_date_in_another_sentence_does_not_date_the_next_step():
    text = "We are sorry the transmitter broke on Monday. We will call you."

    assert rule_ids(text) == [NEXT_STEP_WITHOUT_DATE]


@pytest.mark.parametrize(
    "when",
    [
        "on 2026-11-24",
        "on 24 November",
        "on November 24",
        "on Monday",
        "tomorrow",
        "today at 15:00",
        "at 08:00",
        "at 8 am",
        "on Tue. 24 Nov. at 8 a.m.",
        "immediately",
    ],
)
def test_a_next_step_with_a_date_or_time_is_concrete(when):
    assert rule_ids(f"We are sorry. We will call you {when}.") == []


def test_curly_apostrophes_and_capitals_are_matched_and_the_excerpt_is_as_written():
    warnings = phrase_warnings(f"{APOLOGY} YOU SHOULD\u2019VE called. It\u2019s Not Our Fault.")

    assert [(w.rule_id, w.excerpt) for w in warnings] == [
        ("blame-you-should-have", "YOU SHOULD\u2019VE"),
        ("blame-not-our-fault", "It\u2019s Not Our Fault"),
    ]
    assert warnings[0].key == "blame-you-should-have:you should've"


def test_extra_whitespace_and_line_breaks_between_words_are_matched():
    warnings = phrase_warnings(f"{APOLOGY} As  I\n said, calm \t down. {NEXT_STEP}")

    assert [w.rule_id for w in warnings] == ["dismissive-as-i-said", "dismissive-calm-down"]
    assert warnings[0].key == "dismissive-as-i-said:as i said"


@pytest.mark.parametrize(
    "text",
    [
        "Keep the flow calm downstream of the valve.",
        "We will write to our policyholders.",
        "You should have the replacements by Friday.",
    ],
)
def test_phrases_inside_other_words_or_meaning_something_else_do_not_match(text):
    assert phrase_warnings(f"{APOLOGY} {text} {NEXT_STEP}") == []


def test_phrases_come_in_text_order_then_apology_then_next_step():
    text = "Obviously it's not our fault. As I said, calm down."

    assert rule_ids(text) == [
        "dismissive-obviously",
        "blame-not-our-fault",
        "dismissive-as-i-said",
        "dismissive-calm-down",
        MISSING_APOLOGY,
        MISSING_NEXT_STEP,
    ]


def test_the_same_words_twice_give_one_warning_to_acknowledge():
    warnings = phrase_warnings(f"{APOLOGY} Obviously, and obviously. {NEXT_STEP}")

    assert [w.key for w in warnings] == ["dismissive-obviously:obviously"]


def test_a_missing_item_is_acknowledged_under_its_rule_id():
    (warning,) = check_tone("We are sorry.")

    assert warning.key == MISSING_NEXT_STEP


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_gives_no_warnings(text):
    assert check_tone(text) == []


# --- the rules file is data: a custom one is used, a broken one is refused clearly ---

APOLOGY_AND_NEXT_STEP = """
[apology]
patterns = ["sorry"]
message = "No apology."
suggestion = "Say sorry."

[next_step]
patterns = ["we will", "by {date}"]
dates = ['\\d{4}-\\d{2}-\\d{2}']
message = "No next step."
suggestion = "Say what happens next."

[next_step.without_date]
message = "No date."
suggestion = "Give a date."
"""

ONE_PHRASE = """
[[phrase]]
id = "dismissive-whatever"
kind = "dismissive"
patterns = ["whatever"]
message = "Sounds careless."
suggestion = "Leave it out."
"""


def write_rules(tmp_path: Path, phrases: str, rest: str = APOLOGY_AND_NEXT_STEP) -> Path:
    path = tmp_path / "tone_rules.toml"
    path.write_text(phrases + rest, encoding="utf-8")
    return path


def test_rules_passed_in_replace_the_shipped_ones(tmp_path):
    rules = load_rules(write_rules(tmp_path, ONE_PHRASE))

    assert [w.key for w in check_tone("Whatever. Sorry, we will fix it.", rules)] == [
        "dismissive-whatever:whatever",
        NEXT_STEP_WITHOUT_DATE,
    ]
    assert check_tone("Sorry, fixed by 2026-11-24.", rules) == []


def test_a_pattern_that_is_not_a_valid_regex_is_refused_naming_the_rule(tmp_path):
    path = write_rules(tmp_path, ONE_PHRASE.replace('["whatever"]', '["what(ever"]'))

    with pytest.raises(ToneRulesError) as error:
        load_rules(path)

    message = str(error.value)
    assert "phrase 'dismissive-whatever'" in message
    assert "'what(ever'" in message
    assert "not a valid regular expression" in message
    assert str(path) in message


def test_a_missing_field_is_refused_naming_the_rule_and_the_field(tmp_path):
    path = write_rules(tmp_path, ONE_PHRASE.replace('suggestion = "Leave it out."\n', ""))

    with pytest.raises(
        ToneRulesError, match="phrase 'dismissive-whatever': 'suggestion' is missing"
    ):
        load_rules(path)


def test_a_phrase_without_an_id_is_named_by_its_position(tmp_path):
    path = write_rules(tmp_path, ONE_PHRASE + ONE_PHRASE.replace('id = "dismissive-whatever"', ""))

    with pytest.raises(ToneRulesError, match="phrase #2: 'id' is missing"):
        load_rules(path)


def test_a_misspelt_field_is_refused_rather_than_ignored(tmp_path):
    path = write_rules(tmp_path, ONE_PHRASE.replace("patterns =", "pattern ="))

    with pytest.raises(ToneRulesError, match="phrase 'dismissive-whatever': 'patterns' is missing"):
        load_rules(path)


def test_a_rule_id_used_twice_is_refused(tmp_path):
    path = write_rules(tmp_path, ONE_PHRASE + ONE_PHRASE)

    with pytest.raises(ToneRulesError, match="phrase 'dismissive-whatever': this id is used twice"):
        load_rules(path)


def test_a_bad_date_pattern_is_refused_naming_the_section(tmp_path):
    path = write_rules(
        tmp_path, ONE_PHRASE, APOLOGY_AND_NEXT_STEP.replace("dates = [", "dates = ['[0-9', ")
    )

    with pytest.raises(ToneRulesError, match=r"\[next_step\] dates: pattern"):
        load_rules(path)


def test_a_file_that_is_not_toml_is_refused(tmp_path):
    path = write_rules(tmp_path, "[[phrase]\n")

    with pytest.raises(ToneRulesError, match="not valid TOML"):
        load_rules(path)
