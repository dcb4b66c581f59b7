#!/usr/bin/env python3
"""The layering check checked: on small trees built in a temporary directory, check_layers.py must
pass a clean tree and fail, at the right file and line, on each kind of break. Without this the
`layering` test could pass on the real tree because it checks nothing.

The fixture has four modules: base at the bottom, left and right beside each other on it, and top
over all of them ("all of the above").

usage: test_check_layers.py [-v]   (the `layering_catches` ctest)
"""
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

CHECKER = Path(__file__).resolve().with_name("check_layers.py")

DESIGN = """\
# Design

Some words before the table.

## Module map

| module | what it holds | depends on |
|---|---|---|
| base | the bottom layer, with a \\| in its text | — |
| left | one side | base |
| right | the other side | `base` |
| top | the executable | all of the above |

More words after it.
"""

FILES = {
    "include/pactwatch/base/base.h": "#pragma once\n// #include \"pactwatch/top/top.h\" is a comment\n",
    "daemon/base/base.cc": '#include "pactwatch/base/base.h"\n/* #include "pactwatch/left/left.h"\n   still a comment */\n',
    "daemon/base/CMakeLists.txt": "pactwatch_module(base\n  SOURCES base.cc\n  DEPS Threads::Threads)\n"
                                  "add_dependencies(pactwatch_base pactwatch_version_file)\n",
    "include/pactwatch/left/left.h": '#pragma once\n#include "pactwatch/base/base.h"\n',
    "daemon/left/left.cc": '#include "pactwatch/left/left.h"\n\n#include <vector>\n#include "private.h"\n',
    "daemon/left/private.h": "#pragma once\n",
    "daemon/left/CMakeLists.txt": "pactwatch_module(left\n  SOURCES left.cc\n  DEPS pactwatch::base)\n",
    "include/pactwatch/right/right.h": '#pragma once\n#include <pactwatch/base/base.h>\n',
    "daemon/right/right.cc": '#include "pactwatch/right/right.h"\n',
    "daemon/right/secret.h": "#pragma once\n",
    "daemon/right/CMakeLists.txt": "# links base (pactwatch::left would be sideways)\n"
                                   "pactwatch_module(right SOURCES right.cc DEPS pactwatch::base)\n",
    "daemon/top/main.cc": '#include "pactwatch/left/left.h"\n#include "pactwatch/right/right.h"\n'
                          '#include "pactwatch/base/base.h"\nint main() {}\n',
    "daemon/top/CMakeLists.txt": "add_executable(top main.cc)\n"
                                 "target_link_libraries(top PRIVATE pactwatch::left pactwatch::right pactwatch_warnings)\n",
}
# pactwatch/ includes in FILES: base.cc 1, left.h 1, left.cc 1, right.h 1, right.cc 1, main.cc 3.
CLEAN_INCLUDES = 8


class LayeringCheck(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="layering-")
        self.root = Path(self._tmp.name)
        self.write("docs/design.md", DESIGN)
        for path, text in FILES.items():
            self.write(path, text)

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, path, text):
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    def edit(self, path, old, new):
        p = self.root / path
        text = p.read_text(encoding="utf-8")
        self.assertIn(old, text, f"fixture {path} changed: update the test")
        p.write_text(text.replace(old, new, 1), encoding="utf-8")

    def design_line(self, module):
        for n, line in enumerate((self.root / "docs/design.md").read_text().splitlines(), 1):
            if line.startswith(f"| {module} |"):
                return n
        self.fail(f"no row for {module}")

    def run_checker(self):
        r = subprocess.run([sys.executable, str(CHECKER), str(self.root)], capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr

    def assert_fails_with(self, *expected):
        code, out, err = self.run_checker()
        self.assertEqual(code, 1, f"the checker passed a broken tree:\n{out}{err}")
        for text in expected:
            self.assertIn(text, err)
        self.assertRegex(err.splitlines()[-1], r"^layering: \d+ errors? against the module map")
        return err

    # --- a clean tree passes --------------------------------------------------------------------

    def test_clean_tree_passes(self):
        code, out, err = self.run_checker()
        self.assertEqual((code, err), (0, ""), out + err)
        self.assertEqual(out, f"layering: 4 modules, {CLEAN_INCLUDES} includes checked, order holds\n")

    # --- includes against the order ------------------------------------------------------------

    def test_upward_include_fails(self):
        self.edit("daemon/left/left.cc", "\n\n", '\n#include "pactwatch/top/top.h"\n')
        self.assert_fails_with('daemon/left/left.cc:2: left includes "pactwatch/top/top.h": upward: top depends on left '
                               "(top -> left)")

    def test_upward_include_in_a_public_header_fails(self):
        self.edit("include/pactwatch/base/base.h", "#pragma once\n", '#pragma once\n#include <pactwatch/right/right.h>\n')
        self.assert_fails_with('include/pactwatch/base/base.h:2: base includes "pactwatch/right/right.h": upward')

    def test_sideways_include_fails(self):
        self.edit("daemon/left/left.cc", "\n\n", '\n#include "pactwatch/right/right.h"\n')
        self.assert_fails_with('daemon/left/left.cc:2: left includes "pactwatch/right/right.h": sideways: '
                               "neither left nor right depends on the other (left's dependencies: base)")

    def test_include_of_an_indirect_dependency_fails(self):
        # Dependencies are direct: top reaches base through left, but must list it to include it.
        self.edit("docs/design.md", "| all of the above |", "| left, right |")
        self.assert_fails_with('daemon/top/main.cc:3: top includes "pactwatch/base/base.h": indirect: base is not a '
                               "direct dependency of top, only reachable through top -> left -> base")

    def test_reaching_into_another_modules_private_headers_fails(self):
        self.edit("daemon/left/left.cc", "\n\n", '\n#include "../right/secret.h"\n')
        self.assert_fails_with('daemon/left/left.cc:2: left includes "../right/secret.h": a private header of right')

    def test_include_of_an_unknown_module_fails(self):
        self.edit("daemon/left/left.cc", "\n\n", '\n#include "pactwatch/middle/middle.h"\n')
        self.assert_fails_with('daemon/left/left.cc:2: left includes "pactwatch/middle/middle.h": middle is not a module')

    # --- CMake links -----------------------------------------------------------------------------

    def test_undeclared_cmake_dependency_fails(self):
        self.edit("daemon/left/CMakeLists.txt", "DEPS pactwatch::base", "DEPS pactwatch::base\n       pactwatch::right")
        self.assert_fails_with("daemon/left/CMakeLists.txt:4: left links pactwatch::right: sideways")

    def test_upward_cmake_dependency_of_an_executable_fails(self):
        self.edit("daemon/right/CMakeLists.txt", "DEPS pactwatch::base", "DEPS pactwatch::base pactwatch_top")
        self.assert_fails_with("daemon/right/CMakeLists.txt:2: right links pactwatch_top: upward: top depends on right")

    def test_link_nothing_includes_fails(self):
        self.edit("include/pactwatch/left/left.h", '#include "pactwatch/base/base.h"\n', "")
        self.assert_fails_with("daemon/left/CMakeLists.txt:3: left links pactwatch::base but includes nothing of it")

    # --- the table itself ------------------------------------------------------------------------

    def test_stale_table_entry_fails(self):
        self.edit("docs/design.md", "| the other side | `base` |", "| the other side | base, left |")
        self.assert_fails_with(f"docs/design.md:{self.design_line('right')}: module map: right lists left, "
                               "but right neither includes nor links it (stale")

    def test_stale_entry_under_all_of_the_above_fails(self):
        self.edit("daemon/top/main.cc", '#include "pactwatch/right/right.h"\n', "")
        self.edit("daemon/top/CMakeLists.txt", " pactwatch::right", "")
        self.assert_fails_with(f"docs/design.md:{self.design_line('top')}: module map: top lists right, but top "
                               "neither includes nor links it")

    def test_dependency_listed_after_its_user_fails(self):
        self.edit("docs/design.md", "| one side | base |", "| one side | base, right |")
        self.assert_fails_with(f"docs/design.md:{self.design_line('left')}: module map: left depends on right, "
                               "which is listed after it")

    def test_module_missing_from_the_table_fails(self):
        self.write("daemon/extra/extra.cc", '#include "pactwatch/base/base.h"\n')
        self.assert_fails_with("daemon/extra: module 'extra' is not in the module map")

    def test_table_row_without_a_module_fails(self):
        self.edit("docs/design.md", "| top |", "| ghost | nothing | base |\n| top |")
        self.assert_fails_with(f"docs/design.md:{self.design_line('ghost')}: module map: ghost has no daemon/ghost/ folder")

    def test_missing_module_map_fails(self):
        self.edit("docs/design.md", "## Module map", "## Modules")
        self.assert_fails_with("docs/design.md: no '## Module map' section")


if __name__ == "__main__":
    unittest.main()
