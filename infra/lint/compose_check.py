"""Checks infra/compose.yaml without a container engine: it must validate
against the Compose Specification's JSON schema (vendored beside this file,
compose-spec.json), and hold to the local topology's rules: every image
pinned to a tag (never `latest`), every published port bound to 127.0.0.1,
every bind-mounted file present in the repository.

Usage: python compose_check.py COMPOSE_FILE. Needs PyYAML and jsonschema.
"""

import json
import os
import sys

import jsonschema
import yaml


def main(path):
    problems = []
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "compose-spec.json"), encoding="utf-8") as f:
        schema = json.load(f)
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)  # resolves anchors and << merge keys
    validator = jsonschema.Draft7Validator(schema)
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"{path}: {where}: {err.message}")
    base = os.path.dirname(os.path.abspath(path))
    for name, svc in (doc.get("services") or {}).items():
        image = svc.get("image")
        if image is None and "build" not in svc:
            problems.append(f"{path}: service {name} has neither image nor build")
        if image is not None and "build" not in svc:
            tag = image.rsplit("/", 1)[-1]
            if ":" not in tag and "@" not in image:
                problems.append(f"{path}: service {name}: image {image} is not pinned to a tag")
            elif tag.endswith(":latest"):
                problems.append(f"{path}: service {name}: image {image} uses latest")
        for port in svc.get("ports", []):
            text = port if isinstance(port, str) else port.get("host_ip", "")
            if not str(text).startswith("127.0.0.1"):
                problems.append(f"{path}: service {name}: port {port} is not bound to 127.0.0.1")
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if src.startswith("."):
                if not os.path.exists(os.path.join(base, src)):
                    problems.append(f"{path}: service {name}: bind mount {src} does not exist")
    return problems


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "infra/compose.yaml"
    found = main(target)
    for p in found:
        print(p)
    if found:
        sys.exit(1)
    print(f"{target}: valid against the Compose Specification schema; images pinned, ports on 127.0.0.1, mounts present")
