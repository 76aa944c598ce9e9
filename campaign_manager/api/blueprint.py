"""The Blueprint every API resource uses: flask-smorest's, plus a multipart location.

`location="form_and_files"` reads a multipart/form-data body's fields and files with one
schema, documented as one multipart request body (flask-smorest alone would document the
form fields as OpenAPI 2 `formData` parameters, which OpenAPI 3 does not have).
"""

from __future__ import annotations

from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Request
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict


class ApiParser(FlaskParser):
    __location_map__ = {
        **FlaskParser.__location_map__,
        "form_and_files": "load_form_and_files",
    }

    def load_form_and_files(self, req: Request, schema: ma.Schema) -> Any:
        return MultiDictProxy(CombinedMultiDict([req.files, req.form]), schema)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ApiParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **flask_smorest.Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "form_and_files": "multipart/form-data",
    }
