"""Tone check for customer-facing text: blame and dismissive phrases, a missing apology
or acknowledgement, a missing concrete next step with a date: listen, don't blame,
and commit to a follow-up with a time (docs/principles.md).

The rules are data, in `tone_rules.toml` next to this module; this module only knows
how to read and apply them. A warning is advice the writer may acknowledge: its `key`
(rule id + the words found, normalised) is what the caller records, so it can tell a
warning already acknowledged from a new one.
"""

import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RULES_PATH = Path(__file__).with_name("tone_rules.toml")

MISSING_APOLOGY = "missing-apology"
MISSING_NEXT_STEP = "missing-next-step"
NEXT_STEP_WITHOUT_DATE = "next-step-without-date"

# One character for one, so offsets in the matched text are offsets in the original.
_APOSTROPHES = str.maketrans(dict.fromkeys("\u2019\u2018\u02bc\u2032`\u00b4", "'"))
# A space in a pattern matches any whitespace; " ?" and " *" make it optional.
_PATTERN_SPACE = re.compile(r"(?<!\\) +([?*+])?")
# A sentence ends at . ! ? before a capital letter (so "Tue. 24 Nov. at 8 a.m." stays
# whole), or at a blank line.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Þ])|\n\s*\n")
_RULE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_BUILT_IN_IDS = {MISSING_APOLOGY, MISSING_NEXT_STEP, NEXT_STEP_WITHOUT_DATE}


class ToneRulesError(ValueError):
    """The rules file is broken; the message names the file and the entry."""


@dataclass(frozen=True)
class ToneWarning:
    rule_id: str
    kind: str
    message: str
    suggestion: str
    excerpt: str | None = None

    @property
    def key(self) -> str:
        """What an acknowledgement is stored under: rule id, plus the words found."""
        if self.excerpt is None:
            return self.rule_id
        return f"{self.rule_id}:{_normalise(self.excerpt)}"


@dataclass(frozen=True)
class PhraseRule:
    id: str
    kind: str
    patterns: tuple[re.Pattern[str], ...]
    message: str
    suggestion: str


@dataclass(frozen=True)
class PresenceRule:
    """Words that must occur; `message` and `suggestion` say what to do when they don't."""

    patterns: tuple[re.Pattern[str], ...]
    message: str
    suggestion: str

    def found_in(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self.patterns)


@dataclass(frozen=True)
class ToneRules:
    phrases: tuple[PhraseRule, ...]
    apology: PresenceRule
    next_step: PresenceRule
    # Looked for only in sentences that hold a next step.
    dates: PresenceRule


def check_tone(text: str, rules: ToneRules | None = None) -> list[ToneWarning]:
    """Warnings for customer-facing text: phrases in text order, then missing apology,
    then missing next step (or one without a date). Each key occurs at most once."""
    if rules is None:
        return list(_check_with_default_rules(text))
    return _check(text, rules)


# The editor, the approval page and the approvals queue check the same texts again on
# every view; the answer depends only on the text, so it is remembered (warnings are
# frozen), for a bounded number of texts.
@functools.lru_cache(maxsize=1024)
def _check_with_default_rules(text: str) -> tuple[ToneWarning, ...]:
    return tuple(_check(text, default_rules()))


def _check(text: str, rules: ToneRules) -> list[ToneWarning]:
    if not text.strip():
        return []
    plain = text.translate(_APOSTROPHES)

    found: list[tuple[int, int, ToneWarning]] = []
    for order, rule in enumerate(rules.phrases):
        for start, end in _spans(rule.patterns, plain):
            warning = ToneWarning(
                rule.id, rule.kind, rule.message, rule.suggestion, text[start:end]
            )
            found.append((start, order, warning))
    found.sort(key=lambda item: item[:2])
    warnings = _unique(warning for _, _, warning in found)

    if not rules.apology.found_in(plain):
        warnings.append(_missing(MISSING_APOLOGY, "apology", rules.apology))
    steps = [s for s in _SENTENCE_BREAK.split(plain) if rules.next_step.found_in(s)]
    if not steps:
        warnings.append(_missing(MISSING_NEXT_STEP, "next-step", rules.next_step))
    elif not any(rules.dates.found_in(sentence) for sentence in steps):
        warnings.append(_missing(NEXT_STEP_WITHOUT_DATE, "next-step", rules.dates))
    return warnings


@functools.cache
def default_rules() -> ToneRules:
    """The shipped rules file, read once per process."""
    return load_rules(RULES_PATH)


def load_rules(path: str | Path) -> ToneRules:
    """Read and validate a rules file; ToneRulesError names the entry that is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ToneRulesError(f"{path}: not valid TOML: {error}") from error
    return _Reader(str(path)).rules(data)


class _Reader:
    """Turns the parsed TOML into ToneRules, or fails on the first wrong entry."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> ToneRulesError:
        return ToneRulesError(f"{self.source}: {where}: {problem}")

    def rules(self, data: dict[str, Any]) -> ToneRules:
        self.fields(data, "the file", tables=("phrase", "apology", "next_step"))
        entries = data["phrase"]
        if not isinstance(entries, list) or not entries:
            raise self.fail("the file", "'phrase' must be a list of [[phrase]] entries")
        phrases = tuple(self.phrase(entry, number) for number, entry in enumerate(entries, 1))
        seen: set[str] = set()
        for phrase in phrases:
            if phrase.id in seen:
                raise self.fail(f"phrase {phrase.id!r}", "this id is used twice")
            seen.add(phrase.id)

        apology = data["apology"]
        self.fields(apology, "[apology]", lists=("patterns",), text=("message", "suggestion"))
        step = data["next_step"]
        self.fields(
            step,
            "[next_step]",
            lists=("patterns", "dates"),
            text=("message", "suggestion"),
            tables=("without_date",),
        )
        undated = step["without_date"]
        self.fields(undated, "[next_step.without_date]", text=("message", "suggestion"))

        dates = [self.source_of(pattern, "[next_step] dates") for pattern in step["dates"]]
        any_date = "(?:" + "|".join(dates) + ")"
        return ToneRules(
            phrases=phrases,
            apology=PresenceRule(
                self.compile(apology["patterns"], "[apology]"),
                apology["message"],
                apology["suggestion"],
            ),
            next_step=PresenceRule(
                self.compile(step["patterns"], "[next_step]", any_date=any_date),
                step["message"],
                step["suggestion"],
            ),
            dates=PresenceRule(
                self.compile(step["dates"], "[next_step] dates"),
                undated["message"],
                undated["suggestion"],
            ),
        )

    def phrase(self, entry: Any, number: int) -> PhraseRule:
        where = f"phrase #{number}"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            where = f"phrase {entry['id']!r}"
        self.fields(entry, where, lists=("patterns",), text=("id", "kind", "message", "suggestion"))
        if not _RULE_ID.fullmatch(entry["id"]) or entry["id"] in _BUILT_IN_IDS:
            raise self.fail(
                where, "id must be lowercase words joined by '-' and not a built-in rule id"
            )
        return PhraseRule(
            id=entry["id"],
            kind=entry["kind"],
            patterns=self.compile(entry["patterns"], where),
            message=entry["message"],
            suggestion=entry["suggestion"],
        )

    def fields(
        self,
        table: Any,
        where: str,
        text: tuple[str, ...] = (),
        lists: tuple[str, ...] = (),
        tables: tuple[str, ...] = (),
    ) -> None:
        """Exactly these fields, each of its type: a typo is an error, not a silent default."""
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        for name in (*text, *lists, *tables):
            if name not in table:
                raise self.fail(where, f"'{name}' is missing")
        for name in table:
            if name not in (*text, *lists, *tables):
                raise self.fail(where, f"unknown field '{name}'")
        for name in text:
            if not isinstance(table[name], str) or not table[name].strip():
                raise self.fail(where, f"'{name}' must be non-empty text")
        for name in lists:
            value = table[name]
            if not isinstance(value, list) or not value:
                raise self.fail(where, f"'{name}' must be a non-empty list of strings")
            if not all(isinstance(item, str) and item.strip() for item in value):
                raise self.fail(where, f"'{name}' must hold only non-empty strings")

    def compile(
        self, patterns: list[str], where: str, any_date: str | None = None
    ) -> tuple[re.Pattern[str], ...]:
        compiled = []
        for pattern in patterns:
            source = self.source_of(pattern, where)
            if "{date}" in source:
                if any_date is None:
                    raise self.fail(
                        where, f"pattern {pattern!r}: {{date}} works only in [next_step]"
                    )
                source = source.replace("{date}", any_date)
            compiled.append(self.whole_words(source, where, shown=pattern))
        return tuple(compiled)

    def source_of(self, pattern: str, where: str) -> str:
        """The pattern as a regex (straight apostrophes, flexible whitespace), checked."""
        source = _PATTERN_SPACE.sub(_whitespace, pattern.translate(_APOSTROPHES))
        self.whole_words(source.replace("{date}", "date"), where, shown=pattern)
        return source

    def whole_words(self, source: str, where: str, shown: str) -> re.Pattern[str]:
        try:
            compiled = re.compile(rf"(?<!\w)(?:{source})(?!\w)", re.IGNORECASE)
        except re.error as error:
            raise self.fail(
                where, f"pattern {shown!r} is not a valid regular expression: {error}"
            ) from error
        if compiled.fullmatch(""):
            raise self.fail(where, f"pattern {shown!r} matches empty text")
        return compiled


def _whitespace(match: re.Match[str]) -> str:
    return r"\s*" if match.group(1) in ("?", "*") else r"\s+"


def _spans(patterns: Iterable[re.Pattern[str]], text: str) -> list[tuple[int, int]]:
    """Where any of one rule's patterns match, leftmost and longest, without overlaps."""
    spans = sorted(
        (match.start(), -match.end())
        for pattern in patterns
        for match in pattern.finditer(text)
        if match.end() > match.start()
    )
    kept: list[tuple[int, int]] = []
    for start, negative_end in spans:
        if not kept or start >= kept[-1][1]:
            kept.append((start, -negative_end))
    return kept


def _unique(warnings: Iterable[ToneWarning]) -> list[ToneWarning]:
    seen: set[str] = set()
    unique = []
    for warning in warnings:
        if warning.key not in seen:
            seen.add(warning.key)
            unique.append(warning)
    return unique


def _missing(rule_id: str, kind: str, rule: PresenceRule) -> ToneWarning:
    return ToneWarning(rule_id, kind, rule.message, rule.suggestion)


def _normalise(words: str) -> str:
    return " ".join(words.translate(_APOSTROPHES).lower().split())
