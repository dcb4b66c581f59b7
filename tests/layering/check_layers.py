#!/usr/bin/env python3
"""The layering check: the module order is declared once, in docs/design.md, and the code keeps it.

Reads the "## Module map" table of docs/design.md (columns: module | what it holds | depends on;
"—" for none, "all of the above" for every module listed above the row) and checks, against the
source tree:

  the table   every module lists only modules above it (the rows are the order, bottom layer
              first), each module once, and the table and the daemon/ and include/pactwatch/
              directories name the same modules;
  includes    every `#include "pactwatch/<m>/..."` in daemon/<module>/ and include/pactwatch/
              <module>/ is of the module itself or of a module its row lists. Any other is upward
              (the included module depends on the includer: a cycle), indirect (below the
              includer, but only through another module) or sideways (neither depends on the
              other). A relative include that reaches into another module's folder is an error
              too (its private headers are nobody else's);
  CMake       every pactwatch::<m> (or pactwatch_<m>) a module's daemon/<module>/CMakeLists.txt
              links is listed in its row, and is included somewhere in the module (a link nothing
              includes is dead weight: drop it);
  staleness   every module a row lists is included or linked by that module, so the table stays
              true.

Dependencies are direct: a module may include only what its own row lists, not what those
modules depend on in turn (as its CMake DEPS name its direct links). Including a module that is
only reachable through another is reported, with the path, so the table says it.

Output: a one-line summary and exit 0 when the order holds; every error as `file:line: message`
and exit 1 otherwise. Python 3 standard library only.

usage: check_layers.py [SOURCE_DIR]   (default: the tree this script is in)
"""
import os
import re
import sys
from pathlib import Path

SOURCE_SUFFIXES = {".h", ".hh", ".hpp", ".hxx", ".c", ".cc", ".cpp", ".cxx", ".ipp", ".inc", ".tpp"}
NONE_MARKS = {"", "—", "–", "-", "none"}
ALL_ABOVE = "all of the above"

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
PACTWATCH_INCLUDE_RE = re.compile(r"^pactwatch/([^/]+)/")
# pactwatch::engine (the alias pactwatch_module() makes) or pactwatch_engine (the target itself).
CMAKE_TARGET_RE = re.compile(r"\bpactwatch(::|_)([A-Za-z0-9_]+)")


class Report:
    def __init__(self):
        self.errors = []  # (path, line, message)

    def error(self, path, line, message):
        self.errors.append((str(path), line, message))

    def lines(self):
        out = []
        for path, line, message in sorted(self.errors, key=lambda e: (e[0], e[1] or 0, e[2])):
            out.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")
        return out


class Row:
    def __init__(self, name, index, line, deps_text):
        self.name = name
        self.index = index  # position in the table: the layer order
        self.line = line
        self.deps_text = deps_text
        self.deps = []  # resolved direct dependencies, in the order written


def split_cells(line):
    """Cells of a Markdown table row; `\\|` inside a cell is a literal bar."""
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [c.replace("\\|", "|").strip() for c in re.split(r"(?<!\\)\|", text)]


def plain(cell):
    return cell.replace("`", "").replace("*", "").strip()


def parse_module_map(design, rel, report):
    """The rows of the module map, in order, or None when there is no table to check against."""
    lines = design.read_text(encoding="utf-8").splitlines()
    start = next((i for i, l in enumerate(lines) if re.match(r"^##\s+Module map\s*$", l)), None)
    if start is None:
        report.error(rel, None, "no '## Module map' section")
        return None
    i = start + 1
    while i < len(lines) and not lines[i].lstrip().startswith("|"):
        if lines[i].startswith("#"):
            break
        i += 1
    if i >= len(lines) or not lines[i].lstrip().startswith("|"):
        report.error(rel, start + 1, "module map: no table after the heading")
        return None
    header = [plain(c).lower() for c in split_cells(lines[i])]
    if "module" not in header or "depends on" not in header:
        report.error(rel, i + 1, "module map: the table needs the columns 'module' and 'depends on'")
        return None
    col_module, col_deps = header.index("module"), header.index("depends on")
    i += 1
    if i < len(lines) and re.match(r"^\s*\|?[\s:|-]+\|?\s*$", lines[i]):
        i += 1  # the |---|---| separator

    rows, seen = [], {}
    while i < len(lines) and lines[i].lstrip().startswith("|"):
        cells = split_cells(lines[i])
        if len(cells) <= max(col_module, col_deps):
            report.error(rel, i + 1, f"module map: expected {len(header)} columns, found {len(cells)}")
        else:
            name = plain(cells[col_module])
            if name in seen:
                report.error(rel, i + 1, f"module map: {name} is listed twice (first at line {seen[name]})")
            else:
                seen[name] = i + 1
                rows.append(Row(name, len(rows), i + 1, plain(cells[col_deps])))
        i += 1

    index = {r.name: r for r in rows}
    for row in rows:
        text = row.deps_text.strip().rstrip(".")
        if text.lower() in NONE_MARKS:
            continue
        if text.lower() == ALL_ABOVE:
            row.deps = [r.name for r in rows[: row.index]]
            continue
        for dep in (d.strip() for d in text.split(",")):
            if dep.lower() == ALL_ABOVE:
                report.error(rel, row.line, f"module map: {row.name}: 'all of the above' stands alone in its cell")
            elif dep not in index:
                report.error(rel, row.line, f"module map: {row.name} depends on '{dep}', which is not a module in the table")
            elif dep == row.name:
                report.error(rel, row.line, f"module map: {row.name} lists itself")
            elif index[dep].index > row.index:
                report.error(rel, row.line,
                             f"module map: {row.name} depends on {dep}, which is listed after it "
                             f"(the rows are the order: list {dep} above {row.name})")
            elif dep in row.deps:
                report.error(rel, row.line, f"module map: {row.name} lists {dep} twice")
            else:
                row.deps.append(dep)
    return rows


def module_dirs(base):
    if not base.is_dir():
        return {}
    return {p.name: p for p in sorted(base.iterdir())}


def source_files(directory):
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for f in sorted(filenames):
            if Path(f).suffix in SOURCE_SUFFIXES:
                yield Path(dirpath) / f


def includes(path):
    """(line number, delimiter, target) of each #include outside comments."""
    in_block = False
    for n, raw in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw
        if in_block:
            end = line.find("*/")
            if end < 0:
                continue
            line, in_block = line[end + 2:], False
        while True:  # drop /* ... */ on this line; remember an unterminated one
            s = line.find("/*")
            if s < 0:
                break
            e = line.find("*/", s + 2)
            if e < 0:
                line, in_block = line[:s], True
                break
            line = line[:s] + " " + line[e + 2:]
        m = INCLUDE_RE.match(line)
        if m:
            yield n, m.group(1), m.group(2)


def cmake_links(path):
    """(line number, separator, name) of each pactwatch::<name> / pactwatch_<name> outside comments."""
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0]
        for m in CMAKE_TARGET_RE.finditer(line):
            yield n, m.group(1), m.group(2)


def reachable_path(rows_by_name, start, goal):
    """The shortest chain of direct dependencies from start to goal (both included), or None."""
    queue, parent = [start], {start: None}
    for cur in queue:
        if cur == goal:
            chain = []
            while cur is not None:
                chain.append(cur)
                cur = parent[cur]
            return list(reversed(chain))
        for dep in rows_by_name[cur].deps:
            if dep not in parent:
                parent[dep] = cur
                queue.append(dep)
    return None


def against_order(rows_by_name, module, other):
    """Why `module` may not use `other`, which its row does not list: upward when `other` depends
    on `module` (a cycle), indirect when `other` is below `module` but only through another module,
    sideways when neither depends on the other."""
    up = reachable_path(rows_by_name, other, module)
    if up:
        return f"upward: {other} depends on {module} ({' -> '.join(up)})"
    down = reachable_path(rows_by_name, module, other)
    if down:
        return (f"indirect: {other} is not a direct dependency of {module}, only reachable through "
                f"{' -> '.join(down)}; list it in {module}'s row to use it")
    allowed = ", ".join(rows_by_name[module].deps) or "none"
    return f"sideways: neither {module} nor {other} depends on the other ({module}'s dependencies: {allowed})"


def check(root):
    report = Report()
    design = root / "docs" / "design.md"
    design_rel = design.relative_to(root)
    if not design.is_file():
        report.error(design_rel, None, "missing: the module map lives here")
        return report, 0, 0
    rows = parse_module_map(design, design_rel, report)
    if rows is None:
        return report, 0, 0
    by_name = {r.name: r for r in rows}

    daemon_dirs = module_dirs(root / "daemon")
    public_dirs = module_dirs(root / "include" / "pactwatch")
    for name, path in daemon_dirs.items():
        if path.is_dir() and name not in by_name:
            report.error(path.relative_to(root), None, f"module '{name}' is not in the module map ({design_rel})")
    for name, path in public_dirs.items():
        if not path.is_dir():
            report.error(path.relative_to(root), None, "a public header outside any module's folder")
        elif name not in by_name:
            report.error(path.relative_to(root), None, f"module '{name}' is not in the module map ({design_rel})")
    for row in rows:
        if row.name not in daemon_dirs or not daemon_dirs[row.name].is_dir():
            report.error(design_rel, row.line, f"module map: {row.name} has no daemon/{row.name}/ folder")

    module_roots = {}  # absolute folder -> module, to tell where a relative include lands
    for name, path in daemon_dirs.items():
        if path.is_dir():
            module_roots[path.resolve()] = (name, "private")
    for name, path in public_dirs.items():
        if path.is_dir():
            module_roots[path.resolve()] = (name, "public")

    def owner(path):
        for parent in [path, *path.parents]:
            if parent in module_roots:
                return module_roots[parent]
        return None

    checked = 0
    used = {r.name: {} for r in rows}  # module -> {other: "included" | "linked"}
    linked = {r.name: {} for r in rows}  # module -> {other: (file, line)}
    for row in rows:
        module = row.name
        folders = [p for p in (daemon_dirs.get(module), public_dirs.get(module)) if p and p.is_dir()]
        for folder in folders:
            for f in source_files(folder):
                rel = f.relative_to(root)
                for n, delim, target in includes(f):
                    m = PACTWATCH_INCLUDE_RE.match(target)
                    if m:
                        other = m.group(1)
                    elif delim == '"' and ".." in Path(target).parts:
                        landed = owner(Path(os.path.normpath(f.parent / target)).resolve())
                        if landed is None or landed[0] == module:
                            continue
                        other, kind = landed
                        if kind == "private":
                            report.error(rel, n, f'{module} includes "{target}": a private header of {other} '
                                                 f"(only include/pactwatch/{other}/ is for other modules)")
                            checked += 1
                            continue
                    else:
                        continue
                    checked += 1
                    if other == module:
                        continue
                    if other not in by_name:
                        report.error(rel, n, f'{module} includes "{target}": {other} is not a module in the module map')
                        continue
                    used[module][other] = "included"
                    if other not in row.deps:
                        report.error(rel, n, f'{module} includes "{target}": {against_order(by_name, module, other)}')

        cmake_dir = daemon_dirs.get(module)
        if not cmake_dir or not cmake_dir.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(cmake_dir):
            dirnames.sort()
            for fname in sorted(filenames):
                if fname != "CMakeLists.txt" and not fname.endswith(".cmake"):
                    continue
                f = Path(dirpath) / fname
                rel = f.relative_to(root)
                for n, sep, other in cmake_links(f):
                    if other == module:
                        continue
                    if other not in by_name:
                        if sep == "::":
                            report.error(rel, n, f"{module} links pactwatch::{other}: {other} is not a module in the module map")
                        continue  # pactwatch_warnings, pactwatch_version_file, ...
                    used[module].setdefault(other, "linked")
                    linked[module].setdefault(other, (rel, n))
                    if other not in row.deps:
                        report.error(rel, n, f"{module} links pactwatch{sep}{other}: {against_order(by_name, module, other)}")

    for row in rows:
        for other, (rel, n) in linked[row.name].items():
            if other in row.deps and used[row.name].get(other) != "included":  # else reported above
                report.error(rel, n, f"{row.name} links pactwatch::{other} but includes nothing of it: "
                                     f"drop the link (or include what {row.name} uses of {other})")
        for dep in row.deps:
            if dep not in used[row.name]:
                report.error(design_rel, row.line,
                             f"module map: {row.name} lists {dep}, but {row.name} neither includes nor links it "
                             f"(stale: take it out of the row)")
    return report, len(rows), checked


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    root = Path(argv[1]) if len(argv) == 2 else Path(__file__).resolve().parents[2]
    root = root.resolve()
    report, modules, checked = check(root)
    if report.errors:
        for line in report.lines():
            print(line, file=sys.stderr)
        n = len(report.errors)
        print(f"layering: {n} error{'s' if n != 1 else ''} against the module map in docs/design.md", file=sys.stderr)
        return 1
    print(f"layering: {modules} modules, {checked} includes checked, order holds")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
