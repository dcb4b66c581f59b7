#!/usr/bin/env python3
"""Prints `pactwatch --help` and the --help of every subcommand, recursively, with each exit code:
one text to compare before and after a change to the command line's code.

usage: help_tree.py BINARY > help.txt
       diff <(help_tree.py old/pactwatch) <(help_tree.py new/pactwatch)
"""
import re
import subprocess
import sys


def help_of(binary, path):
    run = subprocess.run([binary, *path, "--help"], capture_output=True, text=True)
    return run.returncode, run.stdout, run.stderr


def subcommands(text):
    names, inside = [], False
    for line in text.splitlines():
        if re.match(r"^[A-Za-z][A-Za-z ]*:\s*$", line):
            inside = line.strip().lower() == "subcommands:"
            continue
        m = re.match(r"^  (\S+)", line)
        if inside and m:
            names.append(m.group(1))
    return names


def walk(binary, path, out):
    code, stdout, stderr = help_of(binary, path)
    out.append(f"=== pactwatch {' '.join(path)} --help (exit {code})\n{stdout}{stderr}")
    for name in subcommands(stdout):
        child = [*path, name]
        if help_of(binary, child)[1] == stdout:
            # A command with a positional before its subcommands (calendar FILE OP): give it one.
            child = [*path, "24x7", name]
        walk(binary, child, out)


def main():
    out = []
    walk(sys.argv[1], [], out)
    sys.stdout.write("".join(out).replace(sys.argv[1], "pactwatch"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
