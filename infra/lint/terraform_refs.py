"""Offline cross-checks of terraform/ that `terraform validate` would make
if the AWS provider could be installed here: every .tf file parses (HCL2),
every module call passes only the module's declared variables and all of its
required ones, every `module.<name>.<output>` names a declared output, and
every `var.<name>` and `local.<name>` a module uses is declared in it.

Usage: python terraform_refs.py TERRAFORM_DIR. Prints one line per problem
and exits 1 if any; needs python-hcl2 (checkov brings it).
"""

import glob
import os
import re
import sys

import hcl2


def load_dir(path):
    """Parsed blocks of every .tf file directly in `path`, plus its raw text."""
    blocks = {"variable": {}, "output": {}, "module": {}, "locals": set()}
    text = ""
    errors = []
    for f in sorted(glob.glob(os.path.join(path, "*.tf"))):
        with open(f, encoding="utf-8") as fh:
            raw = fh.read()
        text += raw + "\n"
        try:
            doc = hcl2.loads(raw)
        except Exception as e:  # noqa: BLE001 - any parse failure is reported
            errors.append(f"{f}: does not parse as HCL2: {e}")
            continue
        for v in doc.get("variable", []):
            for name, body in v.items():
                blocks["variable"][name] = body
        for o in doc.get("output", []):
            for name in o:
                blocks["output"][name] = True
        for m in doc.get("module", []):
            for name, body in m.items():
                blocks["module"][name] = (f, body)
        for loc in doc.get("locals", []):
            blocks["locals"].update(loc.keys())
    return blocks, text, errors


META = {"source", "version", "providers", "depends_on", "count", "for_each", "__start_line__", "__end_line__"}


def scalar(v):
    """checkov's HCL2 parser wraps attribute values in one-element lists."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def strip_comments(text):
    return "\n".join(re.sub(r"(^|\s)(#|//).*$", "", line) for line in text.splitlines())


def main(root):
    problems = []
    dirs = sorted({os.path.dirname(f) for f in glob.glob(os.path.join(root, "**", "*.tf"), recursive=True)})
    if not dirs:
        return [f"no .tf files under {root}"]
    parsed = {}
    for d in dirs:
        blocks, text, errors = load_dir(d)
        problems += errors
        parsed[os.path.normpath(d)] = (blocks, strip_comments(text))
    for d, (blocks, text) in parsed.items():
        for ref in sorted(set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_-]*)", text))):
            if ref not in blocks["variable"]:
                problems.append(f"{d}: var.{ref} is used but not declared")
        for ref in sorted(set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_-]*)", text))):
            if ref not in blocks["locals"]:
                problems.append(f"{d}: local.{ref} is used but not defined")
        for ref in sorted(set(re.findall(r"\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)", text))):
            mod, out = ref
            if mod not in blocks["module"]:
                problems.append(f"{d}: module.{mod} is used but not called")
                continue
            src = scalar(blocks["module"][mod][1].get("source", ""))
            target = os.path.normpath(os.path.join(d, src))
            if target in parsed and out not in parsed[target][0]["output"]:
                problems.append(f"{d}: module.{mod}.{out}: {src} has no output {out}")
        for name, (f, body) in blocks["module"].items():
            src = scalar(body.get("source", ""))
            if not src.startswith("."):
                continue
            target = os.path.normpath(os.path.join(d, src))
            if target not in parsed:
                problems.append(f"{f}: module {name}: source {src} has no .tf files")
                continue
            declared = parsed[target][0]["variable"]
            given = set(body) - META
            for arg in sorted(given - set(declared)):
                problems.append(f"{f}: module {name} passes {arg}, which {src} does not declare")
            for var, vbody in sorted(declared.items()):
                if "default" not in vbody and var not in given:
                    problems.append(f"{f}: module {name} does not pass {var}, which {src} requires")
    return problems


if __name__ == "__main__":
    found = main(sys.argv[1] if len(sys.argv) > 1 else "terraform")
    for p in found:
        print(p)
    if found:
        sys.exit(1)
    print("terraform references: every module call, variable, local and output matches")
