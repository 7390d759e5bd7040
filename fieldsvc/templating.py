"""Jinja as fieldsvc's pages use it: the same templates and the same HTML, with each run
of text and values between two tags handed out in one piece.

Jinja compiles a template into generators that hand out every piece of text and every
value on its own (`<td>`, the value, `</td><td>`, the next value, ...), and each piece
passes up through every template around it (the incident page's content goes through its
block, the page's own template and `base.html`) before the pieces are joined. The
incident page is made of about a thousand such pieces, and handing them up cost more than
writing them. Here the pieces of each run are joined where they are made, in the order
Jinja writes them, and the run is handed up as one piece: the page reads the same, byte
for byte, and a value is escaped exactly as before (Jinja's own code writes it).
"""

from types import FunctionType, MethodType
from typing import Any

from flask.templating import Environment
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from markupsafe import escape

try:
    # markupsafe's own escaping of a str, without wrapping the result in Markup.
    from markupsafe import _escape_inner
except ImportError:  # pragma: no cover - a markupsafe that no longer names it

    def _escape_inner(text: str) -> str:
        return str(escape(text))


def escape_text(value: Any) -> str:
    """`markupsafe.escape(value)` as the plain text it holds: a value joined into a run of
    the page's text at once needs no Markup of its own (making one took most of the time
    of escaping a short text, and a page escapes hundreds)."""
    if type(value) is str:
        return _escape_inner(value)
    return escape(value)


class JoinedOutputCodeGenerator(CodeGenerator):
    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        # Jinja's own code where it already collects the pieces (macros, `{% set %}`
        # blocks, a recursive loop), where text outside a block may be left out (a
        # template that extends another), and for a run of one piece.
        if frame.buffer is not None or frame.require_output_check or len(node.nodes) < 2:
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        body: list[list[Any] | nodes.Expr] = []
        # Text known when compiling is joined then, as Jinja does (its own steps).
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        if len(body) == 1:
            super().visit_Output(node, frame)
            return
        self.writeline('yield "".join((')
        self.indent()
        for item in body:
            if isinstance(item, list):
                self.writeline(self._output_const_repr(item) + ",")
            else:
                self.newline(item)
                if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
                    self.write("environment.escape_text(")
                    if finalize.src is not None:
                        self.write(finalize.src)
                else:
                    self._output_child_pre(item, frame, finalize)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize)
                self.write(",")
        self.outdent()
        self.writeline("))")


class PageContext(Context):
    def call(__self, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        """A plain function or method called from a template (`url_for`, `csrf_token`,
        `has_role`; a page makes about seventy calls) goes straight to it: Jinja's own
        `call` first looks for a `jinja_pass_arg` mark on it and on its `__call__`, which a
        function or method without the mark in its `__dict__` cannot have. Anything else
        (a marked function, a callable object, a builtin) is Jinja's to call."""
        function = __obj.__func__ if type(__obj) is MethodType else __obj
        if type(function) is not FunctionType or "jinja_pass_arg" in function.__dict__:
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception"
            )


class PageEnvironment(Environment):
    """Flask's template environment, compiling with `JoinedOutputCodeGenerator` and
    calling with `PageContext`."""

    code_generator_class = JoinedOutputCodeGenerator
    context_class = PageContext
    escape_text = staticmethod(escape_text)
