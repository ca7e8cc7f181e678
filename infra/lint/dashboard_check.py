"""Checks the Grafana dashboards in infra/grafana/dashboards: each is JSON
with a uid, a title and panels with unique ids, and every `accord_*` metric
a query names is one Accord exposes (found in the sources of the crates
that render /metrics), so a renamed metric cannot leave an empty panel.

Usage: python dashboard_check.py DASHBOARD_DIR CRATES_DIR.
"""

import glob
import json
import os
import re
import sys

# What the exposition adds to a registered name: histograms' series, and
# counters' `_total` (prometheus-client registers counters without it).
SUFFIXES = ("_bucket", "_sum", "_count", "_total")


def exposed_metrics(crates):
    names = set()
    for f in glob.glob(os.path.join(crates, "*", "src", "**", "*.rs"), recursive=True):
        with open(f, encoding="utf-8") as fh:
            names.update(re.findall(r'"(accord_[a-z0-9_]+)"', fh.read()))
    return names


def main(dash_dir, crates):
    problems = []
    known = exposed_metrics(crates)
    files = sorted(glob.glob(os.path.join(dash_dir, "*.json")))
    if not files:
        return [f"no dashboards in {dash_dir}"]
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                dash = json.load(fh)
        except ValueError as e:
            problems.append(f"{f}: not JSON: {e}")
            continue
        for key in ("uid", "title", "panels"):
            if not dash.get(key):
                problems.append(f"{f}: no {key}")
        ids = [p.get("id") for p in dash.get("panels", [])]
        if len(ids) != len(set(ids)):
            problems.append(f"{f}: panel ids repeat")
        for p in dash.get("panels", []):
            for t in p.get("targets", []):
                for m in re.findall(r"\b(accord_[a-z0-9_]+)", t.get("expr", "")):
                    base = m
                    for s in SUFFIXES:
                        if base.endswith(s) and base[: -len(s)] in known:
                            base = base[: -len(s)]
                    if base not in known:
                        problems.append(f"{f}: panel '{p.get('title')}' queries {m}, which no crate exposes")
    return problems


if __name__ == "__main__":
    found = main(sys.argv[1], sys.argv[2])
    for p in found:
        print(p)
    if found:
        sys.exit(1)
    print("dashboards: valid JSON, every queried metric is exposed")
