#!/usr/bin/env python3
"""Checks recorded API answers against docs/openapi.yaml (OpenAPI 3.1, whose schemas are JSON
Schema 2020-12): every route the server registers is documented; every recorded answer's status is
documented for its operation, and its JSON body validates against the schema of that status and
media type. Exit 0 when all agree; otherwise every mismatch is printed."""
import json
import sys

import jsonschema
import yaml


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def main(spec_path, recorded_path):
    spec = yaml.safe_load(open(spec_path))
    recorded = json.load(open(recorded_path))
    problems = []
    if not str(spec.get("openapi", "")).startswith("3.1"):
        problems.append("the document is not OpenAPI 3.1")
    paths = spec.get("paths", {})
    for r in recorded["routes"]:
        op = paths.get(r["pattern"], {}).get(r["method"].lower())
        if op is None:
            problems.append(f"{r['method']} {r['pattern']} is served but not documented")
    documented = {(m.upper(), p) for p, item in paths.items() for m in item if m in ("get", "post", "put", "patch", "delete")}
    served = {(r["method"], r["pattern"]) for r in recorded["routes"]}
    for m, p in sorted(documented - served):
        problems.append(f"{m} {p} is documented but not served")

    # Validate against a schema that can see the whole document's components.
    checked = 0
    for rec in recorded["responses"]:
        where = f"{rec['method']} {rec['pattern']} -> {rec['status']}"
        op = paths.get(rec["pattern"], {}).get(rec["method"].lower())
        if op is None:
            continue
        responses = op.get("responses", {})
        resp = responses.get(str(rec["status"])) or responses.get(f"{str(rec['status'])[0]}XX") or responses.get("default")
        if resp is None:
            problems.append(f"{where}: status not documented")
            continue
        resp = resolve(spec, resp)
        ctype = rec["content_type"].split(";")[0].strip()
        content = resp.get("content", {})
        if not content:
            continue
        if ctype not in content:
            problems.append(f"{where}: content type {ctype} not documented (documented: {', '.join(content)})")
            continue
        schema = content[ctype].get("schema")
        if schema is None or not ctype.endswith("json"):
            continue
        body = json.loads(rec["body"])
        wrapper = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": spec.get("components", {})}
        wrapper.update(schema if "$ref" not in schema else {"$ref": schema["$ref"]})
        validator = jsonschema.Draft202012Validator(wrapper)
        for err in validator.iter_errors(body):
            path = "/".join(str(p) for p in err.absolute_path)
            problems.append(f"{where}: at /{path}: {err.message[:200]}")
            break
        checked += 1
    for p in problems:
        print(p)
    print(f"{checked} response(s) validated, {len(recorded['routes'])} route(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
