"""The OpenAPI document of the FMB JSON API, served at ``/fmb/openapi.json``.

It describes what ``fmb/api.py`` answers and nothing more, so a property-based run (schemathesis)
can hold the two to each other. ``attributes`` are left open: they are Socialstyrelsen's format,
given back exactly as imported, and the open API never published a schema for them.
"""

from __future__ import annotations

from typing import Any

from ntjp_producer import __version__

_ERROR = {"$ref": "#/components/responses/Error"}
_CACHING = {
    "ETag": {"schema": {"type": "string"}, "description": "Changes when an import or a validity day changes the data"},
    "Last-Modified": {"schema": {"type": "string"}},
    "Cache-Control": {"schema": {"type": "string"}},
}

_PARAMETERS = {
    "inlinehtmlmarkup": {
        "name": "inlinehtmlmarkup",
        "in": "query",
        "required": False,
        "description": "true: texts as the open API's HTML, in `{\"markup\": …}`; false (default): as plain "
        "text, in `{\"text\": …}`.",
        "schema": {"type": "boolean", "default": False},
    },
    "avenejaktiva": {
        "name": "avenejaktiva",
        "in": "query",
        "required": False,
        "description": "true: also items whose validity has ended (removed by a later release).",
        "schema": {"type": "boolean", "default": False},
    },
    "diagnoskod": {
        "name": "diagnoskod",
        "in": "query",
        "required": False,
        "description": "ICD-10-SE codes, with or without a dot, any case. An item matches a code when it "
        "applies to the code; when nothing applies to it, its nearest parent is tried (F321, then F32), as "
        "GetFmb does. Repeat the parameter or separate codes with commas.",
        "schema": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z][0-9]{2}\\.?[0-9A-Za-z]{0,4}$"}},
        "style": "form",
        "explode": True,
    },
    "id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}},
}

_SCHEMAS: dict[str, Any] = {
    "Meta": {
        "type": "object",
        "required": ["senasteVersionsuppdatering", "senateAndring", "count"],
        "properties": {
            "version": {"type": ["string", "null"], "description": "The imported release's version"},
            "buildtimestamp": {"type": ["string", "null"]},
            "senasteVersionsuppdatering": {"type": "string", "pattern": "^[0-9]{14}$"},
            "senateAndring": {"type": "string", "pattern": "^[0-9]{14}$"},
            "count": {"type": "integer", "minimum": 0},
        },
    },
    "Resource": {
        "type": "object",
        "required": ["links", "type", "id", "attributes", "relationships", "meta"],
        "properties": {
            "links": {"type": "object", "required": ["self"], "properties": {"self": {"type": "string"}}},
            "type": {"type": "string", "enum": ["typfall", "forsakringsmedicinskdiagnosinformation"]},
            "id": {"type": "string"},
            "attributes": {"type": "object", "description": "As the open API published it, value for value"},
            "relationships": {"type": "object"},
            "meta": {
                "type": "object",
                "description": "The producer's version facts, the same the SOAP services answer with",
                "required": ["version", "aktiv", "giltighetsperiod", "senastAndrad"],
                "properties": {
                    "version": {"type": "integer", "minimum": 1},
                    "aktiv": {"type": "boolean"},
                    "giltighetsperiod": {
                        "type": "object",
                        "required": ["start", "slut"],
                        "properties": {
                            "start": {"type": "string", "format": "date"},
                            "slut": {"type": ["string", "null"], "format": "date"},
                        },
                    },
                    "senastAndrad": {"type": "string", "pattern": "^[0-9]{14}$"},
                },
            },
        },
    },
    "Collection": {
        "type": "object",
        "required": ["meta", "links", "data"],
        "properties": {
            "meta": {"$ref": "#/components/schemas/Meta"},
            "links": {"type": "object", "required": ["self"], "properties": {"self": {"type": "string"}}},
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
        },
    },
    "Single": {
        "type": "object",
        "required": ["meta", "links", "data"],
        "properties": {
            "meta": {"$ref": "#/components/schemas/Meta"},
            "links": {"type": "object", "required": ["self"], "properties": {"self": {"type": "string"}}},
            "data": {"$ref": "#/components/schemas/Resource"},
        },
    },
    "Errors": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["status", "title", "detail"],
                    "properties": {
                        "status": {"type": "string"},
                        "title": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
            }
        },
    },
}


def _operation(summary: str, schema: str, params: list[str], not_found: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "headers": _CACHING,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        "304": {"description": "Not modified since the ETag or date the client sent", "headers": _CACHING},
        "400": _ERROR,
        "503": _ERROR,
    }
    if not_found:
        responses["404"] = _ERROR
    return {
        "summary": summary,
        "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params],
        "responses": responses,
    }


def document(base_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for segment, title in (("typfall", "typfall"), ("forsakringsmedicinskdiagnosinformation", "diagnosinformation")):
        paths[f"/fmb/{segment}"] = {
            "get": _operation(
                f"All active {title} (or those for the given diagnoses)",
                "Collection",
                ["inlinehtmlmarkup", "diagnoskod", "avenejaktiva"],
                not_found=False,
            )
        }
        paths[f"/fmb/{segment}/{{id}}"] = {
            "get": _operation(
                f"One {title} by id; one no longer active only with avenejaktiva=true",
                "Single",
                ["id", "inlinehtmlmarkup", "avenejaktiva"],
                not_found=True,
            )
        }
    paths["/fmb/openapi.json"] = {
        "get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {}}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FMB, försäkringsmedicinskt beslutsstöd (JSON)",
            "version": __version__,
            "description": "Socialstyrelsen's open FMB API, served from the same data as the RIV-TA contracts "
            "GetFmb and GetDiagnosInformation. Read-only; supports conditional GET.",
        },
        "servers": [{"url": base_url}],
        "paths": paths,
        "components": {
            "parameters": _PARAMETERS,
            "schemas": _SCHEMAS,
            "responses": {
                "Error": {
                    "description": "What was wrong, in JSON:API's error format",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
                }
            },
        },
    }
