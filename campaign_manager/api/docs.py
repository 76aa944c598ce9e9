"""The OpenAPI document (/api/v1/openapi.json) and browsable docs (/api/docs).

The docs page is rendered on the server from the same OpenAPI document, so it loads nothing
from the internet (no Swagger UI from a CDN) and passes the app's strict CSP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template

from campaign_manager.web.authz import public

bp = Blueprint("api_docs", __name__, template_folder="templates")

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def openapi_document() -> dict[str, Any]:
    return current_app.extensions["campaign_manager.api"].spec.to_dict()


@bp.route("/api/v1/openapi.json")
@public
def openapi_json():
    return jsonify(openapi_document())


@dataclass
class FieldRow:
    name: str
    type: str
    required: bool
    description: str


@dataclass
class Operation:
    method: str
    path: str
    summary: str
    description: str
    anchor: str
    parameters: list[FieldRow] = field(default_factory=list)
    body: list[FieldRow] = field(default_factory=list)
    body_type: str = ""
    responses: list[tuple[str, str]] = field(default_factory=list)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"].get(name, {})
    return schema


def _type_of(document: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "one of" if "enum" in schema else "any")
    if isinstance(kind, list):
        kind = " | ".join(kind)
    if "array" in kind and "items" in schema:
        kind = kind.replace("array", f"array of {_type_of(document, schema['items'])}")
    if "enum" in schema:
        kind += ": " + ", ".join(str(v) for v in schema["enum"] if v is not None)
        if None in schema["enum"]:
            kind += ", null"
    if "format" in schema:
        kind += f" ({schema['format']})"
    return kind


def _fields(document: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[FieldRow]:
    schema = _resolve(document, schema)
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        rows.append(
            FieldRow(
                name=prefix + name,
                type=_type_of(document, prop),
                required=name in required,
                description=prop.get("description", ""),
            )
        )
    return rows


def operations(document: dict[str, Any]) -> dict[str, list[Operation]]:
    """Operations grouped by tag, in the document's order."""
    grouped: dict[str, list[Operation]] = {}
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            spec = item.get(method)
            if spec is None:
                continue
            operation = Operation(
                method=method.upper(),
                path=path,
                summary=spec.get("summary", ""),
                description=spec.get("description", ""),
                anchor=f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
            )
            for parameter in item.get("parameters", []) + spec.get("parameters", []):
                operation.parameters.append(
                    FieldRow(
                        name=f"{parameter['name']} ({parameter['in']})",
                        type=_type_of(document, parameter.get("schema", {})),
                        required=parameter.get("required", False),
                        description=parameter.get("description", ""),
                    )
                )
            for content_type, content in spec.get("requestBody", {}).get("content", {}).items():
                operation.body_type = content_type
                operation.body = _fields(document, content.get("schema", {}))
            for status, response in sorted(spec.get("responses", {}).items()):
                if "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[-1]
                    response = document["components"]["responses"].get(name, {})
                operation.responses.append((status, response.get("description", "")))
            tag = (spec.get("tags") or ["other"])[0]
            grouped.setdefault(tag, []).append(operation)
    return grouped


@bp.route("/api/docs")
@public
def docs():
    document = openapi_document()
    tags = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
    return render_template(
        "api/docs.html",
        document=document,
        groups=operations(document),
        tags=tags,
        schemas={
            name: _fields(document, schema)
            for name, schema in document.get("components", {}).get("schemas", {}).items()
        },
    )
