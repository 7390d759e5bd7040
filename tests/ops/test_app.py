"""fieldsvc's Flask: views and hooks run as Flask runs them, the question whether each is
a coroutine function asked once per function rather than on every request."""

import flask.app

from fieldsvc import ops


def counting_coroutine_checks(monkeypatch) -> list:
    asked = []
    check = flask.app.iscoroutinefunction

    def counted(func):
        asked.append(func)
        return check(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counted)
    return asked


def test_a_page_and_its_hooks_are_checked_once_however_many_requests(monkeypatch):
    asked = counting_coroutine_checks(monkeypatch)
    app = ops.App(__name__)
    seen = []
    app.before_request(lambda: seen.append("before"))
    app.after_request(lambda response: seen.append("after") or response)

    @app.get("/")
    def page():
        return "the page"

    client = app.test_client()
    for _ in range(5):
        assert client.get("/").get_data(as_text=True) == "the page"

    assert seen == ["before", "after"] * 5
    assert len(asked) == 3  # the view and the two hooks, once each


def test_a_coroutine_function_is_still_run_through_flasks_async_support(monkeypatch):
    app = ops.App(__name__)
    made_sync = []

    def async_to_sync(func):
        made_sync.append(func)
        return lambda *args, **kwargs: "run through async_to_sync"

    monkeypatch.setattr(app, "async_to_sync", async_to_sync)

    @app.get("/")
    async def page():
        return "never awaited here"

    client = app.test_client()
    assert client.get("/").get_data(as_text=True) == "run through async_to_sync"
    assert client.get("/").get_data(as_text=True) == "run through async_to_sync"
    assert made_sync and all(func is page for func in made_sync)


def test_functions_made_afresh_on_each_request_do_not_pile_up():
    app = ops.App(__name__)
    for n in range(ops.logs.SYNC_KEPT * 3):
        function = eval(f"lambda: {n}")  # a new function each time
        assert app.ensure_sync(function) is function
    assert len(app._sync) <= ops.logs.SYNC_KEPT
