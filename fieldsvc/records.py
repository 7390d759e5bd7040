"""Reference-data screens: list with search and paging, detail with history, create, edit,
deactivate.

Users, customers, sites, contacts, equipment, suppliers and parts all have this shape, so
one set of views serves them. Each feature describes its records with a RecordType and
keeps its rules in its own services (passed in as `save` or `check`).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import or_, select

from fieldsvc import clock
from fieldsvc.audit.services import acting, history_for
from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.auth.models import Role, User
from fieldsvc.auth.services import end_sessions
from fieldsvc.errors import DomainError, FieldError
from fieldsvc.extensions import db
from fieldsvc.money import format_money
from fieldsvc.ranges import Range, named


@dataclass(frozen=True)
class Column:
    label: str
    path: str  # attribute path from the record, e.g. "site.customer.name"
    link: str | None = None  # record type whose detail page the value's owner opens
    money: bool = False
    code: bool = False  # tags, part numbers, serials: never broken across lines
    listed: bool = True  # False: on the record's page only, not a column of its list

    @property
    def css_class(self) -> str:
        return "money" if self.money else "code" if self.code else ""


@dataclass(frozen=True)
class Children:
    title: str
    record: str  # key of the child RecordType
    relationship: str  # attribute of the parent holding the children
    parent_field: str  # form field pre-filled with the parent's id on "Add"


@dataclass(frozen=True)
class RecordType:
    key: str  # "customer": endpoint names customer_list, customer_detail ...
    url: str  # "/customers"
    model: type
    singular: str
    plural: str
    form: type[FlaskForm]
    columns: Sequence[Column]
    search: Sequence[Any]  # model attributes searched case-insensitively
    order_by: Sequence[Any]
    eager: Sequence[Any] = ()  # loader options that keep the list's query count constant
    children: Sequence[Children] = ()
    create_form: type[FlaskForm] | None = None
    # The edit form for one record, when records of a type differ in what may be edited.
    edit_form: Callable[[Any], type[FlaskForm]] | None = None
    check: Callable[[Any | None, dict[str, Any]], None] | None = None
    save: Callable[..., Any] | None = None  # save(obj|None, values, actor=) -> obj
    read_roles: Sequence[Role] = EVERYONE
    manage_roles: Sequence[Role] = (Role.ADMIN,)
    blueprint: list[str] = field(default_factory=list)

    @property
    def list_columns(self) -> list[Column]:
        return [column for column in self.columns if column.listed]


REGISTRY: dict[str, RecordType] = {}


# --- services -----------------------------------------------------------------------------


def save_record(rt: RecordType, obj: Any | None, values: dict[str, Any], *, actor: Any) -> Any:
    """Create (obj None) or change a reference record after its feature's checks."""
    if rt.save is not None:
        return rt.save(obj, values, actor=actor)
    _check_ranges(rt, values)
    if rt.check is not None:
        rt.check(obj, values)
    with acting(actor):
        if obj is None:
            obj = rt.model()
            db.session.add(obj)
        for name, value in values.items():
            setattr(obj, name, value)
        db.session.flush()
    return obj


def _check_ranges(rt: RecordType, values: dict[str, Any]) -> None:
    """Every value against its column: filled in when required, within its declared range."""
    for name, value in values.items():
        column = rt.model.__table__.columns.get(name)
        if column is not None and value is None and not column.nullable and column.default is None:
            raise FieldError(name, "Fill this in: spaces alone are not enough.")
        allowed = column.info.get("range") if column is not None else None
        if isinstance(allowed, Range):
            named(allowed, name.replace("_", " ").capitalize()).check(name, value)


def set_record_active(obj: Any, active: bool, *, actor: Any, reason: str | None = None) -> None:
    """Deactivate or reactivate a record; records are never deleted, history stays whole."""
    if isinstance(obj, User) and obj.id == actor.id and not active:
        raise DomainError("You cannot deactivate your own account.")
    if isinstance(obj, User) and not active:
        # Reactivating the account later must not bring its old sign-ins back.
        end_sessions(obj, reason="deactivated")
    with acting(actor, reason=reason):
        obj.active = active
        db.session.flush()


# --- views --------------------------------------------------------------------------------


def register(bp: Blueprint, rt: RecordType) -> None:
    """Add the list, detail, create, edit and (de)activate views of `rt` to `bp`."""
    REGISTRY[rt.key] = rt
    rt.blueprint.append(bp.name)
    readers, managers = role_required(*rt.read_roles), role_required(*rt.manage_roles)
    add = bp.add_url_rule
    add(f"{rt.url}/", f"{rt.key}_list", readers(lambda: _list(rt)), methods=["GET"])
    add(
        f"{rt.url}/new", f"{rt.key}_new", managers(lambda: _edit(rt, None)), methods=["GET", "POST"]
    )
    add(
        f"{rt.url}/<int:id>",
        f"{rt.key}_detail",
        readers(lambda id: _detail(rt, id)),
        methods=["GET"],
    )
    add(
        f"{rt.url}/<int:id>/edit",
        f"{rt.key}_edit",
        managers(lambda id: _edit(rt, _get(rt, id))),
        methods=["GET", "POST"],
    )
    add(
        f"{rt.url}/<int:id>/active",
        f"{rt.key}_set_active",
        managers(lambda id: _set_active(rt, id)),
        methods=["POST"],
    )


def endpoint(key: str, view: str) -> str:
    rt = REGISTRY[key]
    return f"{rt.blueprint[0]}.{rt.key}_{view}"


def _get(rt: RecordType, id: int) -> Any:
    return db.get_or_404(rt.model, id, description=f"There is no {rt.singular.lower()} {id}.")


def _list(rt: RecordType):
    query = request.args.get("q", "").strip()
    show = request.args.get("show", "active")
    if show not in ("active", "inactive", "all"):
        abort(400, "Show must be active, inactive or all.")
    stmt = select(rt.model).options(*rt.eager).order_by(*rt.order_by)
    if show != "all":
        stmt = stmt.where(rt.model.active.is_(show == "active"))
    if query:
        stmt = stmt.where(or_(*(col.icontains(query, autoescape=True) for col in rt.search)))
    page = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"], error_out=False)
    rows = [(obj, _cells(rt, obj, rt.list_columns)) for obj in page.items]
    return render_template(
        "records/list.html",
        rt=rt,
        rows=rows,
        page=page,
        query=query,
        show=show,
        can_manage=current_user.has_role(*rt.manage_roles),
    )


def _detail(rt: RecordType, id: int):
    obj = _get(rt, id)
    children = []
    for child in rt.children:
        child_rt = REGISTRY[child.record]
        # The column that points back at this record would repeat it on every row.
        columns = [column for column in child_rt.list_columns if column.link != rt.key]
        rows = [
            (row, [_cell(row, column) for column in columns])
            for row in getattr(obj, child.relationship)
        ]
        children.append((child, child_rt, columns, rows))
    return render_template(
        "records/detail.html",
        rt=rt,
        obj=obj,
        cells=_cells(rt, obj),
        children=children,
        history=history_for(obj),
        can_manage=current_user.has_role(*rt.manage_roles),
    )


def _edit(rt: RecordType, obj: Any | None):
    if obj is None:
        form_class = rt.create_form or rt.form
    else:
        form_class = rt.edit_form(obj) if rt.edit_form else rt.form
    if request.method == "GET":
        form = form_class(obj=obj) if obj is not None else form_class(formdata=request.args)
    else:
        form = form_class(obj=obj) if obj is not None else form_class()
    if form.validate_on_submit():
        try:
            obj = save_record(rt, obj, _values(form), actor=current_user)
        except FieldError as error:
            db.session.rollback()
            form[error.field].errors.append(error.message)
        else:
            db.session.commit()
            flash(f"{rt.singular} saved.", "success")
            return redirect(url_for(endpoint(rt.key, "detail"), id=obj.id))
    status = 422 if form.errors else 200
    return render_template("records/form.html", rt=rt, obj=obj, form=form), status


def _set_active(rt: RecordType, id: int):
    obj = _get(rt, id)
    active = request.form.get("active") == "1"
    reason = request.form.get("reason", "").strip()[:500] or None
    set_record_active(obj, active, actor=current_user, reason=reason)
    db.session.commit()
    flash(f"{rt.singular} {'reactivated' if active else 'deactivated'}.", "success")
    return redirect(url_for(endpoint(rt.key, "detail"), id=id))


def _values(form: FlaskForm) -> dict[str, Any]:
    values = {}
    for name, form_field in form._fields.items():
        if name == "csrf_token":
            continue
        value = form_field.data
        if isinstance(value, str):
            value = value.strip() or None
        values[name] = value
    return values


def _cells(
    rt: RecordType, obj: Any, columns: Sequence[Column] | None = None
) -> list[tuple[str, str | None]]:
    return [_cell(obj, column) for column in (rt.columns if columns is None else columns)]


def _cell(obj: Any, column: Column) -> tuple[str, str | None]:
    *owner_path, _ = column.path.split(".")
    owner = obj
    for name in owner_path:
        owner = getattr(owner, name)
    value = _resolve(obj, column.path)
    url = None
    if column.link and owner is not None:
        url = url_for(endpoint(column.link, "detail"), id=owner.id)
    return _display(value, column), url


def _resolve(obj: Any, path: str) -> Any:
    for name in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, name)
    return obj


def _display(value: Any, column: Column) -> str:
    if value is None:
        return ""
    if column.money and isinstance(value, Decimal):
        return format_money(value, current_app.config["CURRENCY"])
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return clock.format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "label"):
        return value.label
    return str(value)
