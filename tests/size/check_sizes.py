#!/usr/bin/env python3
"""The size check: no source file in daemon/ over 800 lines, no function over 120 lines, unless
a comment says why.

  files       a file of more than MAX_FILE_LINES lines needs, in its opening comment (the comment
              lines before the first line of code), a line that starts `// size:` or
              `// Over 800 lines` and says why it must be that long;
  functions   a function body (from the first line of its signature to its closing brace) of more
              than MAX_FUNCTION_LINES lines needs a `// size: ...` comment on the line just before
              its signature.

Functions are found with a small scanner, not a compiler: comments, string and character
literals and preprocessor lines are blanked out, then a `{` met outside any function whose
header (the text since the last `;`, `{` or `}`) ends in `)` (give or take `const`, `noexcept`,
`override`, a trailing return type or a constructor's initializer list) opens a function; its
lambdas and local classes count as its own lines. Namespaces, classes, enums and initializers
(`= {`) are walked into, not measured.

Output: a one-line summary and exit 0 when every size holds; every excess as
`file:line: message` and exit 1 otherwise. Python 3 standard library only.

usage: check_sizes.py [SOURCE_DIR]        (default: the tree this script is in)
       check_sizes.py --list [SOURCE_DIR] every function over the limit, with or without a reason
"""
import re
import sys
from pathlib import Path

MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 120
SOURCE_SUFFIXES = {".h", ".hh", ".hpp", ".cc", ".cpp", ".cxx", ".c"}

FILE_REASON_RE = re.compile(r"^\s*//\s*(size:|over 800 lines)", re.IGNORECASE)
FUNCTION_REASON_RE = re.compile(r"//\s*size:", re.IGNORECASE)
AGGREGATE_RE = re.compile(r"^(template\s*<.*>\s*)?(namespace|class|struct|union|enum|extern)\b", re.DOTALL)
QUALIFIERS_RE = re.compile(r"\)\s*(const|noexcept(\s*\([^()]*\))?|override|final|mutable|volatile|&&|&|\s)*(->[^{;]*)?$",
                           re.DOTALL)
CONTROL_RE = re.compile(r"\b(if|for|while|switch|catch|do)\s*$")


def blank(text):
    """The text with comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#":
            # A preprocessor line, with its continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            out.append(c)
            line_start = True
            i += 1
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
            continue
        m = re.match(r'(u8|u|U|L)?R"([^(\s]*)\(', text[i:i + 40])
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = ")" + m.group(2) + '"'
            end = text.find(close, i + m.end())
            end = n if end < 0 else end + len(close)
            out.append('"' + "".join(ch if ch == "\n" else " " for ch in text[i + 1:end - 1]) + '"')
            i = end
            continue
        if c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # a digit separator: 1'000
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def name_of(header):
    m = re.search(r"([~A-Za-z_][A-Za-z0-9_:<>~=!+\-*/%&|^\[\]]*)\s*\(", header)
    return m.group(1) if m else "(function)"


def functions(text):
    """(name, first line, last line) of each function in the text, lines counted from 1."""
    code = blank(text)
    found = []
    n = len(code)
    header_start = 0
    i = 0
    depth_stack = []  # one entry per open aggregate brace: True for walked-into scopes
    while i < n:
        c = code[i]
        if c in ";}":
            if c == "}" and depth_stack:
                depth_stack.pop()
            header_start = i + 1
        elif c == "{":
            header = code[header_start:i].strip()
            ctor = re.search(r"\)\s*(noexcept\s*)?:(?!:)", header)
            if ctor and re.search(r"[\w>]$", header):
                # A constructor's member initializer `member_{...}`: part of the header, skipped over.
                i = match_brace(code, i) + 1
                continue
            is_function = (header and not AGGREGATE_RE.match(header) and not header.endswith("=")
                           and not CONTROL_RE.search(header) and "(" in header
                           and (QUALIFIERS_RE.search(header) or ctor))
            if is_function:
                end = match_brace(code, i)
                first = code.count("\n", 0, header_start + (len(code[header_start:i]) - len(code[header_start:i].lstrip()))) + 1
                last = code.count("\n", 0, end) + 1
                found.append((name_of(header), first, last))
                i = end + 1
                header_start = i
                continue
            depth_stack.append(True)
            header_start = i + 1
        i += 1
    return found


def match_brace(code, i):
    depth = 0
    n = len(code)
    while i < n:
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n - 1


def file_reason(lines):
    for line in lines:
        if not line.strip():
            continue
        if not line.lstrip().startswith("//"):
            return False
        if FILE_REASON_RE.match(line):
            return True
    return False


def check(root, list_all=False):
    errors, listed = [], []
    files = sorted(p for p in (root / "daemon").rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file())
    nfunctions = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.split("\n")
        rel = path.relative_to(root)
        count = len(lines) - (1 if text.endswith("\n") else 0)
        if count > MAX_FILE_LINES and not file_reason(lines):
            errors.append(f"{rel}:1: {count} lines, over {MAX_FILE_LINES}: split it, or say why in its opening comment "
                          f"(`// size: ...`)")
        for name, first, last in functions(text):
            nfunctions += 1
            length = last - first + 1
            if length <= MAX_FUNCTION_LINES:
                continue
            reason = first >= 2 and FUNCTION_REASON_RE.search(lines[first - 2])
            if list_all:
                listed.append(f"{rel}:{first}: {name}: {length} lines{' (says why)' if reason else ''}")
            if not reason:
                errors.append(f"{rel}:{first}: function {name} is {length} lines, over {MAX_FUNCTION_LINES}: split it into "
                              f"named steps, or say why on the line before it (`// size: ...`)")
    return files, nfunctions, errors, listed


def main(argv):
    args = argv[1:]
    list_all = "--list" in args
    args = [a for a in args if a != "--list"]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2]
    files, nfunctions, errors, listed = check(root, list_all)
    for line in listed:
        print(line)
    for e in errors:
        print(e)
    if errors:
        print(f"sizes: {len(errors)} problem(s) in {len(files)} files of daemon/", file=sys.stderr)
        return 1
    print(f"sizes: {len(files)} files and {nfunctions} functions in daemon/ checked, none over "
          f"{MAX_FILE_LINES}/{MAX_FUNCTION_LINES} lines without a reason")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
