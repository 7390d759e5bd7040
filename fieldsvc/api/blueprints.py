"""A flask-smorest blueprint whose operations are grouped under a heading in words, and
which reads a multipart body of files and form fields with one schema."""

import flask
import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict


class ApiParser(FlaskParser):
    """webargs' Flask parser with one more location, "form_and_files": a multipart body
    read whole, so one schema (and one documented request body) holds a file and the
    fields that describe it (flask-smorest documents one request body per operation)."""

    __location_map__ = {**FlaskParser.__location_map__, "form_and_files": "load_form_and_files"}

    def load_form_and_files(self, req: flask.Request, schema: ma.Schema):
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class ApiBlueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "form_and_files": "multipart/form-data",
    }

    def __init__(self, name: str, import_name: str, *, tag: str, **kwargs) -> None:
        super().__init__(name, import_name, url_prefix="/api/v1", **kwargs)
        self.tag = tag

    def route(self, rule, *, parameters=None, tags=None, **options):
        return super().route(rule, parameters=parameters, tags=tags or [self.tag], **options)
