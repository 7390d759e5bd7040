"""The pages' template environment writes what Jinja's own writes, byte for byte, and
hands out each run of text and values between two tags in one piece."""

import jinja2
import pytest
from markupsafe import Markup, escape

from fieldsvc.templating import PageEnvironment, escape_text

TEMPLATES = {
    "base.html": (
        "<title>{% block title %}{% endblock %} · {{ company }}</title>\n"
        "<main>{% block content %}{% endblock %}</main>"
    ),
    "_macros.html": (
        '{% macro field(name, value) %}<label for="{{ name }}">{{ name | title }}</label>'
        '<input id="{{ name }}" value="{{ value }}">{% endmacro %}'
    ),
    "page.html": (
        '{% extends "base.html" %}{% from "_macros.html" import field %}\n'
        "outside any block: never written\n"
        "{% block title %}{{ reference }}{% endblock %}\n"
        "{% block content %}\n"
        '<p class="{{ kind }}">{{ text }} — {{ safe }}'
        " ({{ count }}, {{ none }}, {{ amount }})</p>\n"
        '<ul>{% for row in rows %}<li id="row-{{ row.id }}">{{ row.name }}'
        "{{ ', ' if not loop.last }}{% if row.note %}<em>{{ row.note }}</em>{% endif %}</li>"
        "{% else %}<li>none</li>{% endfor %}</ul>\n"
        "{% set told %}{{ text }} &amp; {{ safe }}{% endset %}<p>{{ told }}</p>\n"
        "{{ field('caption', text) }}\n"
        "{% autoescape false %}<pre>{{ text }} {{ safe }}</pre>{% endautoescape %}\n"
        "{% include '_row.html' %}\n"
        "{% for row in rows recursive %}<b>{{ row.name }}-{{ loop.depth }}</b>{% endfor %}\n"
        "{% filter upper %}{{ text }} {{ reference }}{% endfilter %}\n"
        "{% endblock %}"
    ),
    "_row.html": "<footer>{{ reference }}: {{ text }} &lt;{{ count }}&gt;</footer>",
    "mail.txt": (
        "Dear {{ name }},\n{{ text }} <{{ reference }}> {{ safe }}\n"
        "{% for r in rows %}- {{ r.name }}\n{% endfor %}"
    ),
}
VALUES = {
    "company": "Smith & Sons <Field>",
    "reference": "INC-2026-00001",
    "kind": 'a "quoted" class',
    "text": "O'Brien's <script>alert(1)</script> & co",
    "safe": Markup("<strong>already safe</strong>"),
    "count": 42,
    "none": None,
    "amount": 3.5,
    "rows": [
        {"id": 1, "name": "PT-107 <b>", "note": "bent & broken"},
        {"id": 2, "name": "PT-117", "note": ""},
    ],
    "name": "Dana <Whitfield>",
}


def environments() -> tuple[jinja2.Environment, PageEnvironment]:
    loader = jinja2.DictLoader(TEMPLATES)
    autoescape = jinja2.select_autoescape(["html"])
    stock = jinja2.Environment(loader=loader, autoescape=autoescape)
    # PageEnvironment is Flask's environment (it wants an app); its compiler works alone.
    pages = jinja2.Environment(loader=loader, autoescape=autoescape)
    pages.code_generator_class = PageEnvironment.code_generator_class
    pages.context_class = PageEnvironment.context_class
    pages.escape_text = escape_text
    return stock, pages


@pytest.mark.parametrize("name", ["page.html", "mail.txt", "_row.html"])
def test_pages_read_as_jinja_writes_them(name):
    stock, pages = environments()
    expected = stock.get_template(name).render(VALUES)
    assert pages.get_template(name).render(VALUES) == expected
    assert "&lt;script&gt;" in expected or name == "mail.txt"


def test_a_run_of_text_and_values_is_handed_out_in_one_piece():
    stock, pages = environments()
    template = (
        '<tr><td class="field">{{ label }}</td><td>{{ before }}</td><td>{{ after }}</td></tr>'
    )
    values = {"label": "Severity", "before": "Low", "after": "<High>"}
    pieces = list(pages.from_string(template).generate(values))
    assert pieces == ['<tr><td class="field">Severity</td><td>Low</td><td>&lt;High&gt;</td></tr>']
    assert len(list(stock.from_string(template).generate(values))) == 7


def test_escaping_a_text_gives_what_markupsafe_gives():
    for value in ("plain", "<&>\"'", "", "é — ü", Markup("<b>kept</b>"), 7, None, 2.5):
        assert escape_text(value) == escape(value)
    assert type(escape_text("<a>")) is str


class Reader:
    name = "Sara"

    def greet(self, greeting: str, *, mark: str = "!") -> str:
        return f"{greeting}, {self.name}{mark}"

    @jinja2.pass_context
    def page_of(self, context) -> str:
        return f"{self.name} on {context['reference']}"

    def __call__(self, n: int) -> str:
        return f"called {n}"


def test_what_a_template_calls_gets_what_jinja_gives_it():
    @jinja2.pass_context
    def reference_in(context, prefix: str) -> str:
        return f"{prefix}{context['reference']}"

    @jinja2.pass_environment
    def escaping(environment) -> str:
        return str(environment.autoescape)

    def stops():
        raise StopIteration

    template = (
        "{{ plain(1, b=2) }} {{ reference_in('ref ') }} {{ escaping() }} {{ reader.greet('Hi') }}"
        " {{ reader.greet('Bye', mark='.') }} {{ reader.page_of() }} {{ reader(3) }}"
        " [{{ stops() }}] {{ max(4, 9) }}"
        "{% for n in [1] %} {{ plain(n, b=loop.index) }}{% set m = n %}{{ reference_in(m) }}"
        "{% endfor %}"
    )
    values = {
        "plain": lambda a, b: f"{a}+{b}",
        "reference_in": reference_in,
        "escaping": escaping,
        "reader": Reader(),
        "stops": stops,
        "max": max,
        "reference": "INC-2026-00001",
    }
    stock, pages = environments()
    expected = stock.from_string(template).render(values)
    assert pages.from_string(template).render(values) == expected
    assert "ref INC-2026-00001" in expected and "Sara on INC-2026-00001" in expected
    assert "[]" in expected and "called 3" in expected and "Bye, Sara." in expected
