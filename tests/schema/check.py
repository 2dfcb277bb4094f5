#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# check: schema/flowrun.schema.json must accept every examples/*/flowrun.yaml and
# reject the flowrun.yaml of every tests/golden/*/*/ case marked `schema-rejects`.
# Usage: check.py [SRCDIR]  (default: this script's ../..). Output is TAP;
# exit 1 on any failure, 77 when python3-yaml or python3-jsonschema is missing.

import glob
import json
import os
import re
import sys

try:
    import yaml
    from yaml.constructor import ConstructorError
except ImportError as e:
    print("SKIP: python3-yaml is not installed (%s)" % e)
    sys.exit(77)
try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
except ImportError as e:
    print("SKIP: python3-jsonschema with draft 2020-12 support is not installed (%s)" % e)
    sys.exit(77)


class Loader(yaml.SafeLoader):
    """Reads YAML the way flowrun's loader does: YAML 1.2 core schema (so `yes`,
    `on` and dates are strings, `<<` is an ordinary key), mapping keys as their
    scalar text, and duplicate or non-scalar keys are errors."""


Loader.yaml_implicit_resolvers = {}
for tag, regexp, first in [
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]:
    Loader.add_implicit_resolver("tag:yaml.org,2002:" + tag, re.compile(regexp), first)


def construct_bool(loader, node):
    return loader.construct_scalar(node).lower() == "true"


def construct_int(loader, node):
    v = loader.construct_scalar(node)
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v, 10)


def construct_float(loader, node):
    v = loader.construct_scalar(node).lower()
    if v.endswith(".inf"):
        return float("-inf") if v.startswith("-") else float("inf")
    if v == ".nan":
        return float("nan")
    return float(v)


def construct_mapping(loader, node, deep=False):
    if not isinstance(node, yaml.MappingNode):
        raise ConstructorError(None, None, "expected a mapping", node.start_mark)
    mapping, first = {}, {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConstructorError(None, None, "non-scalar mapping key", key_node.start_mark)
        key = key_node.value
        if key in mapping:
            raise ConstructorError(None, None, "duplicate key '%s' (first at line %d)"
                                   % (key, first[key]), key_node.start_mark)
        first[key] = key_node.start_mark.line + 1
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


Loader.add_constructor("tag:yaml.org,2002:bool", construct_bool)
Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
Loader.add_constructor("tag:yaml.org,2002:float", construct_float)
Loader.construct_mapping = construct_mapping


def load(path):
    """The document at path, or raise ValueError with the reason it cannot be read."""
    try:
        with open(path, "rb") as f:
            return yaml.load(f.read(), Loader=Loader)
    except (OSError, yaml.YAMLError, ValueError, RecursionError) as e:
        raise ValueError(" ".join(str(e).split())) from e


def schema_error(validator, doc):
    """None when doc is valid, else a one-line reason."""
    err = best_match(validator.iter_errors(doc))
    if err is None:
        return None
    where = "/" + "/".join(str(p) for p in err.absolute_path)
    msg = " ".join(err.message.split())
    if len(msg) > 200:
        msg = msg[:197] + "..."
    return "%s: %s" % (where, msg)


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(argv[0])), "..", "..")
    root = os.path.normpath(root)
    schema_path = os.path.join(root, "schema", "flowrun.schema.json")
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
    except Exception as e:  # any failure here makes every case meaningless
        print("Bail out! %s: %s" % (os.path.relpath(schema_path, root), " ".join(str(e).split())[:300]))
        return 1
    validator = Draft202012Validator(schema)

    cases = [(p, True) for p in sorted(glob.glob(os.path.join(root, "examples", "*", "flowrun.yaml")))]
    for d in sorted(glob.glob(os.path.join(root, "tests", "golden", "*", "*", ""))):
        if os.path.isfile(os.path.join(d, "schema-rejects")):
            cases.append((os.path.join(d, "flowrun.yaml"), False))

    if not cases:
        print("1..0 # SKIP no cases")
        return 0

    failed = 0
    for n, (path, must_pass) in enumerate(cases, 1):
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        if not must_pass and not os.path.isfile(path):
            print("not ok %d - %s: missing (the case has schema-rejects but no flowrun.yaml)" % (n, rel))
            failed += 1
            continue
        try:
            reason = schema_error(validator, load(path))
            what = "schema"
        except ValueError as e:
            reason, what = str(e), "YAML"
        if must_pass and reason is None:
            print("ok %d - %s" % (n, rel))
        elif must_pass:
            print("not ok %d - %s: %s rejects it: %s" % (n, rel, what, reason))
            failed += 1
        elif reason is not None:
            print("ok %d - %s" % (n, rel))
            print("# rejected by %s: %s" % (what, reason))
        else:
            print("not ok %d - %s: the schema accepts it" % (n, rel))
            failed += 1
    print("1..%d" % len(cases))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
