"""Anchors: the trail's head recorded outside the database (file, standard output,
e-mail), so deleting or rewriting events up to the last anchor is found and named."""

import json
import stat

from fieldsvc.extensions import db


def anchor(runner, *args):
    return runner.invoke(args=["audit", "anchor", *args])


def verify(runner, *args):
    return runner.invoke(args=["audit", "verify", *args])


def test_anchor_appends_the_head_to_the_anchor_file_as_one_json_line_each_time(
    app, runner, make_customer, trail, tmp_path
):
    path = tmp_path / "anchors" / "audit.jsonl"
    first = anchor(runner, "--file", str(path))
    make_customer(name="Later")
    db.session.commit()
    second = anchor(runner, "--file", str(path))

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert f"anchored event #5 in {path}" in first.output
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["seq"] for line in lines] == [5, 6]
    assert lines[0]["hash"] == trail[-1].hash
    assert lines[0]["event_id"] == trail[-1].id
    assert lines[0]["key_id"] == "test-1"
    assert {"anchored_at", "event_at", "mac", "mac_key_id"} <= lines[0].keys()
    assert not stat.S_IMODE(path.stat().st_mode) & stat.S_IWOTH


def test_anchor_uses_the_configured_file_and_verify_reads_it_by_default(
    app, runner, trail, tmp_path
):
    app.config["AUDIT_ANCHOR_FILE"] = str(tmp_path / "configured.jsonl")
    assert anchor(runner).exit_code == 0
    result = verify(runner)
    assert result.exit_code == 0, result.output
    assert f"1 anchors checked ({tmp_path / 'configured.jsonl'})" in result.output


def test_anchor_to_standard_output_prints_the_anchor_alone_for_a_log_collector(
    runner, trail, tmp_path
):
    result = anchor(runner, "--to", "stdout", "--to", "file", "--file", str(tmp_path / "a.jsonl"))
    assert result.exit_code == 0
    [line] = result.output.splitlines()  # nothing else, on stdout or stderr
    assert json.loads(line)["seq"] == trail[-1].seq
    assert json.loads(line)["type"] == "fieldsvc-audit-anchor"
    assert (tmp_path / "a.jsonl").read_text() == line + "\n"


def test_anchor_by_email_reaches_the_configured_address_and_can_be_verified_against(
    app, runner, trail, smtp_server, tmp_path
):
    app.config["AUDIT_ANCHOR_EMAIL"] = "auditor@example.com"
    result = anchor(runner, "--to", "email")
    assert result.exit_code == 0, result.output
    assert "anchored event #5 by e-mail to auditor@example.com" in result.output

    [message] = smtp_server.messages
    assert smtp_server.recipients == [["auditor@example.com"]]
    assert "audit anchor: event #5" in message["Subject"]
    saved = tmp_path / "anchor-mail.txt"  # the auditor saves the e-mail's text
    saved.write_text(message.get_content())
    verified = verify(runner, "--anchors", str(saved))
    assert verified.exit_code == 0, verified.output
    assert "1 anchors checked" in verified.output


def test_anchor_by_email_needs_an_address(app, runner, trail):
    app.config["AUDIT_ANCHOR_EMAIL"] = ""
    result = anchor(runner, "--to", "email")
    assert result.exit_code == 2
    assert "FIELDSVC_AUDIT_ANCHOR_EMAIL" in result.output


def test_deleted_newest_events_before_an_anchor_are_detected_and_named(
    runner, trail, insider, tmp_path
):
    anchors = tmp_path / "anchors.jsonl"
    anchor(runner, "--file", str(anchors))
    insider.delete_from(4)

    # The chain alone cannot see it: what is left is a whole, correctly sealed trail.
    assert verify(runner).exit_code == 0
    result = verify(runner, "--anchors", str(anchors))
    assert result.exit_code == 1
    assert "the trail ends at event #3" in result.output
    assert "for event #5" in result.output
    assert "events #4 to #5 are deleted (head shorter than anchored)" in result.output


def test_an_emptied_trail_is_detected_by_its_anchor(runner, trail, insider, tmp_path):
    anchors = tmp_path / "anchors.jsonl"
    anchor(runner, "--file", str(anchors))
    insider.delete_from(1)
    result = verify(runner, "--anchors", str(anchors))
    assert result.exit_code == 1
    assert "the audit trail is empty" in result.output
    assert "every event was deleted" in result.output


def test_anchored_events_replaced_by_new_sealed_ones_are_detected(
    runner, make_customer, trail, insider, tmp_path
):
    # Deleted, and then the app (with the key) wrote new events at the same numbers:
    # every MAC holds, but the anchored event is not the one that was anchored.
    anchors = tmp_path / "anchors.jsonl"
    anchor(runner, "--file", str(anchors))
    insider.delete_from(4)
    make_customer(name="F")
    make_customer(name="G")
    db.session.commit()

    result = verify(runner, "--anchors", str(anchors))
    assert result.exit_code == 1
    assert "audit event #5" in result.output
    assert "differs from the anchor of" in result.output
    assert "rewritten or replaced after it was anchored" in result.output


def test_a_rewritten_event_below_an_older_anchor_is_named_with_the_anchor(
    runner, make_customer, trail, insider, tmp_path
):
    anchors = tmp_path / "anchors.jsonl"
    anchor(runner, "--file", str(anchors))
    make_customer(name="F")
    db.session.commit()
    anchor(runner, "--file", str(anchors))
    insider.rewrite(5, reason="never happened")

    result = verify(runner, "--anchors", str(anchors))
    assert result.exit_code == 1
    assert "audit event #5" in result.output
    assert "for event #5" in result.output


def test_an_edited_anchor_line_is_detected(runner, trail, insider, tmp_path):
    anchors = tmp_path / "anchors.jsonl"
    anchor(runner, "--file", str(anchors))
    insider.delete_from(4)
    line = json.loads(anchors.read_text())
    line["seq"], line["hash"], line["event_id"] = 3, trail[2].hash, trail[2].id  # hide it
    anchors.write_text(json.dumps(line) + "\n")

    result = verify(runner, "--anchors", str(anchors))
    assert result.exit_code == 1
    assert "does not match its own MAC (the anchor was altered)" in result.output


def test_an_unreadable_anchor_file_fails_verification(runner, trail, tmp_path):
    anchors = tmp_path / "anchors.jsonl"
    anchors.write_text('{"type": "fieldsvc-audit-anchor", "seq": "five"}\n')
    result = verify(runner, "--anchors", str(anchors))
    assert result.exit_code == 1
    assert f"{anchors} line 1 is not a readable anchor" in result.output
    missing = verify(runner, "--anchors", str(tmp_path / "nowhere.jsonl"))
    assert missing.exit_code == 1
    assert "cannot read the anchor file" in missing.output


def test_a_head_that_fails_its_mac_is_not_anchored(runner, trail, insider, tmp_path):
    insider.append(key_id="test-1")
    result = anchor(runner, "--file", str(tmp_path / "anchors.jsonl"))
    assert result.exit_code == 1
    assert "does not match its MAC, so it was not anchored" in result.output
    assert not (tmp_path / "anchors.jsonl").exists()


def test_an_empty_trail_has_nothing_to_anchor(runner, tmp_path):
    result = anchor(runner, "--file", str(tmp_path / "anchors.jsonl"))
    assert result.exit_code == 1
    assert "the audit trail is empty: nothing to anchor yet" in result.output
