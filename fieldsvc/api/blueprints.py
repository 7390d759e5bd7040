"""A flask-smorest blueprint whose operations are grouped under a heading in words."""

import flask_smorest


class ApiBlueprint(flask_smorest.Blueprint):
    def __init__(self, name: str, import_name: str, *, tag: str, **kwargs) -> None:
        super().__init__(name, import_name, url_prefix="/api/v1", **kwargs)
        self.tag = tag

    def route(self, rule, *, parameters=None, tags=None, **options):
        return super().route(rule, parameters=parameters, tags=tags or [self.tag], **options)
