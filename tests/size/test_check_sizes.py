#!/usr/bin/env python3
"""The size checker on fixture trees built in a temporary directory: it fails, at the right file
and line, on a long function and a long file without a reason, passes them with one, and is not
fooled by braces in comments, strings, initializers or constructors' member initializers."""
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_sizes  # noqa: E402


def function(name, lines, reason=False):
    body = "".join(f"  x += {i};  // {{ not a brace\n" for i in range(lines - 2))
    return (f"// size: {name} is one table\n" if reason else "") + f"int {name}(int x) {{\n{body}}}\n"


class CheckSizes(unittest.TestCase):
    def tree(self, files):
        root = Path(tempfile.mkdtemp())
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    def errors(self, files):
        _, _, errors, _ = check_sizes.check(self.tree(files))
        return errors

    def test_a_short_tree_passes(self):
        self.assertEqual(self.errors({"daemon/m/a.cc": function("f", 120)}), [])

    def test_a_long_function_fails_at_its_line(self):
        errors = self.errors({"daemon/m/a.cc": "#include <x>\n\n" + function("f", 121)})
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].startswith("daemon/m/a.cc:3: function f is 121 lines"), errors[0])

    def test_a_reason_on_the_line_before_passes(self):
        self.assertEqual(self.errors({"daemon/m/a.cc": function("f", 200, reason=True)}), [])

    def test_a_long_file_fails_unless_its_opening_comment_says_why(self):
        text = "".join(function(f"f{i}", 10) for i in range(81))
        self.assertEqual(len(self.errors({"daemon/m/a.cc": "// module a\n" + text})), 1)
        self.assertEqual(self.errors({"daemon/m/a.cc": "// module a\n// size: one state machine\n" + text}), [])

    def test_methods_constructors_and_lambdas_are_measured(self):
        ctor = "A::A(int b) : b_{b}, c_(2) {\n" + "  f();\n" * 130 + "}\n"
        cls = "struct B {\n  int g() const noexcept {\n" + "    return [] { return 1; }();\n" * 130 + "  }\n};\n"
        errors = self.errors({"daemon/m/a.cc": "namespace n {\n" + ctor + cls + "}  // namespace n\n"})
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("function A::A is 132 lines", errors[0])
        self.assertIn("function g is 132 lines", errors[1])

    def test_initializers_and_strings_are_not_functions(self):
        table = "const int kTable[] = {\n" + "  1,\n" * 200 + "};\n"
        text = 'const char* s = "int f() {";\n' + table
        self.assertEqual(self.errors({"daemon/m/a.cc": text}), [])


if __name__ == "__main__":
    unittest.main()
