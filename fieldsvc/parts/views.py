from datetime import date
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from fieldsvc import records
from fieldsvc.auth.access import EVERYONE, role_required
from fieldsvc.errors import DomainError, FieldError
from fieldsvc.extensions import db
from fieldsvc.incidents.views import get_visible_or_404
from fieldsvc.parts import forms, services
from fieldsvc.parts.models import Part, PartOrder, PartOrderStatus, Supplier
from fieldsvc.proposals.forms import (
    EditPartOrderForm,
    PartOrderForm,
    PartOrderStatusForm,
    pad_blank_rows,
)
from fieldsvc.records import Column, RecordType

bp = Blueprint("parts", __name__)

records.register(
    bp,
    RecordType(
        key="supplier",
        url="/suppliers",
        model=Supplier,
        singular="Supplier",
        plural="Suppliers",
        form=forms.EditSupplierForm,
        columns=[Column("Name", "name"), Column("E-mail", "email"), Column("Phone", "phone")],
        search=[Supplier.name, Supplier.email],
        order_by=[Supplier.name],
    ),
)
records.register(
    bp,
    RecordType(
        key="part",
        url="/parts",
        model=Part,
        singular="Part",
        plural="Parts catalogue",
        form=forms.EditPartForm,
        columns=[
            Column("Part number", "number", code=True),
            Column("Description", "description"),
            Column("List price", "list_price", money=True),
        ],
        search=[Part.number, Part.description],
        order_by=[Part.number],
        check=services.check_part,
    ),
)


# --- part orders for an incident ------------------------------------------------------------


@bp.route("/incidents/<int:incident_id>/part-orders/new", methods=["GET", "POST"])
@role_required(*EVERYONE)
def order_new(incident_id: int):
    incident = get_visible_or_404(incident_id)
    form = PartOrderForm()
    _offer_order_choices(form)
    if form.validate_on_submit():
        try:
            order = services.order_parts(
                incident, _details(form), _order_lines(form), actor=current_user
            )
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(f"Part order {order} recorded for {incident.reference}.", "success")
            return redirect(url_for("incidents.detail", incident_id=incident.id, _anchor="parts"))
    elif not form.is_submitted():
        form.ordered_on.data = date.today()
    _pad_lines(form.lines)
    status = 400 if form.is_submitted() else 200
    return render_template("parts/order_form.html", form=form, incident=incident), status


@bp.route("/part-orders/<int:order_id>/edit", methods=["GET", "POST"])
@role_required(*EVERYONE)
def order_edit(order_id: int):
    order = _visible_order_or_404(order_id)
    form = EditPartOrderForm(obj=order if request.method == "GET" else None)
    _offer_order_choices(form)
    if form.validate_on_submit():
        try:
            services.update_part_order(order, _details(form), actor=current_user)
            db.session.commit()
        except (FieldError, DomainError) as error:
            db.session.rollback()
            flash(str(error), "error")
        else:
            flash(f"Part order {order} updated.", "success")
            return redirect(
                url_for("incidents.detail", incident_id=order.incident_id, _anchor="parts")
            )
    status = 400 if form.is_submitted() else 200
    return render_template(
        "parts/order_form.html", form=form, incident=order.incident, order=order
    ), status


@bp.post("/part-orders/<int:order_id>/status")
@role_required(*EVERYONE)
def order_status(order_id: int):
    order = _visible_order_or_404(order_id)
    form = PartOrderStatusForm()
    if form.validate_on_submit():
        try:
            services.change_part_order_status(
                order, PartOrderStatus(form.status.data), actor=current_user
            )
            db.session.commit()
        except FieldError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(f"Part order {order} is now {order.status.label.lower()}.", "success")
    return redirect(url_for("incidents.detail", incident_id=order.incident_id, _anchor="parts"))


def _visible_order_or_404(order_id: int) -> PartOrder:
    order = db.session.get(PartOrder, order_id)
    if order is None:
        abort(404, "No such part order.")
    get_visible_or_404(order.incident_id)
    return order


def _offer_order_choices(form) -> None:
    suppliers = db.session.scalars(select(Supplier).where(Supplier.active).order_by(Supplier.name))
    form.supplier_id.choices = [SelectChoice("", "Choose…")] + [
        SelectChoice(s.id, s.name) for s in suppliers
    ]


def _pad_lines(lines) -> None:
    pad_blank_rows(lines)
    parts = db.session.scalars(select(Part).where(Part.active).order_by(Part.number)).all()
    for entry in lines:
        entry.form.part_id.choices = [SelectChoice("", "Not in the catalogue")] + [
            SelectChoice(
                p.id,
                f"{p.number} — {p.description}",
                # What the page's script fills the line with when this part is chosen.
                render_kw={"data-description": p.description, "data-list-price": p.list_price},
            )
            for p in parts
        ]


def _details(form) -> services.OrderDetails:
    return services.OrderDetails(
        supplier_id=form.supplier_id.data or 0,
        po_number=form.po_number.data,
        ordered_on=form.ordered_on.data,
        expected_on=form.expected_on.data,
        return_window_days=form.return_window_days.data,
        restocking_fee_pct=form.restocking_fee_pct.data or Decimal("0"),
    )


def _order_lines(form) -> list[services.OrderLineInput]:
    return [
        services.OrderLineInput(
            part_id=entry.form.part_id.data,
            description=entry.form.description.data or "",
            quantity=entry.form.quantity.data
            if entry.form.quantity.data is not None
            else Decimal("0"),
            unit_cost=entry.form.unit_cost.data,
            discount_pct=entry.form.discount_pct.data or Decimal("0"),
        )
        for entry in form.lines
        if not entry.form.is_blank
    ]
