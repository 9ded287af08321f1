"""Every example in the OpenAPI document is valid against the schema it illustrates."""
import jsonschema
import orjson
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

pytestmark = pytest.mark.django_db


def _openapi30_to_jsonschema(node):
    """OpenAPI 3.0 schema objects → JSON Schema: `nullable: true` becomes a null alternative."""
    if isinstance(node, list):
        return [_openapi30_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30_to_jsonschema(v) for k, v in node.items() if k not in ("nullable", "example", "examples")}
    if node.get("nullable"):
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _examples(doc):
    """(where, media schema, example value) for request bodies and responses."""
    for path, item in doc["paths"].items():
        for verb, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            medias = []
            body = op.get("requestBody", {}).get("content", {})
            medias += [(f"{verb.upper()} {path} request", m) for m in body.values()]
            for status, resp in op["responses"].items():
                medias += [(f"{verb.upper()} {path} {status}", m) for m in resp.get("content", {}).values()]
            for where, media in medias:
                for name, ex in media.get("examples", {}).items():
                    yield f"{where} [{name}]", media["schema"], ex["value"]


def test_every_openapi_example_validates(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    raw = orjson.loads(response.content)
    doc = _openapi30_to_jsonschema(raw)
    registry = Registry().with_resource("urn:api", Resource.from_contents(doc, default_specification=DRAFT4))
    checked, bad = 0, []
    for where, schema, value in _examples(raw):
        schema = _openapi30_to_jsonschema(schema)
        schema = {**schema}
        if "$ref" in schema:
            schema["$ref"] = "urn:api" + schema["$ref"]
        validator = jsonschema.Draft4Validator(_rebase(schema), registry=registry)
        errors = [e.message for e in validator.iter_errors(value)]
        if errors:
            bad.append((where, errors[:3]))
        checked += 1
    assert checked >= 10, f"only {checked} examples found"
    assert bad == []


def _rebase(node):
    """Point every local `#/components/...` reference at the registered document."""
    if isinstance(node, list):
        return [_rebase(n) for n in node]
    if isinstance(node, dict):
        return {k: ("urn:api" + v if k == "$ref" and v.startswith("#") else _rebase(v)) for k, v in node.items()}
    return node
