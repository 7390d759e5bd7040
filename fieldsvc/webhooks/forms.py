from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectMultipleField, StringField, widgets
from wtforms.validators import InputRequired, Length

from fieldsvc.webhooks.models import EventType


class EventTypesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CreateEndpointForm(FlaskForm):
    url = StringField(
        "URL",
        validators=[InputRequired(), Length(max=2000)],
        description="Where the events are posted: an https:// address on the internet.",
    )
    description = StringField(
        "Description",
        validators=[Length(max=200)],
        description="What receives them, e.g. “ERP” or “Service desk chat”.",
    )
    event_types = EventTypesField(
        "Events it hears of",
        choices=[SelectChoice(event.value, event.label) for event in EventType],
        validators=[InputRequired("Choose at least one.")],
    )


class EditEndpointForm(CreateEndpointForm):
    enabled = BooleanField(
        "On", description="Switched off, it is sent nothing until switched on again."
    )
