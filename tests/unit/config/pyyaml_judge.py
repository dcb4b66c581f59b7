#!/usr/bin/python3
"""Judges every file in a directory with PyYAML's safe loader, as the reference for pactwatch's
strict YAML check (yaml_strict_test.cc): prints "ok NAME" or "err NAME: why" per file, in name
order. A file is read as UTF-8, strictly."""
import os
import sys

import yaml

directory = sys.argv[1]
for name in sorted(os.listdir(directory)):
    try:
        with open(os.path.join(directory, name), "rb") as f:
            yaml.safe_load(f.read().decode("utf-8"))
        print("ok", name)
    except Exception as e:  # any refusal: a YAML error, a bad date, bad UTF-8
        print("err", name + ":", type(e).__name__, str(e).replace("\n", " ")[:200])
