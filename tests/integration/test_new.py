"""`spindle new NAME [DIR]`: the project it makes builds against the
installed SDK (find_package and pkg-config) and passes its own test; bad
names and occupied folders are refused with sysexits codes."""

import os
import shutil
import tempfile
import unittest

from project_harness import build_project, ctest_project, install_sdk, run
from spindle_harness import BIN

EX_USAGE = 64
EX_CANTCREAT = 73


class Refusals(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-new-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def new(self, *args):
        return run([BIN, "new"] + list(args), cwd=self.dir, check=False)

    def test_usage(self):
        p = self.new()
        self.assertEqual(p.returncode, EX_USAGE, p.out)
        self.assertIn("usage: spindle new NAME [DIR]", p.out)
        p = self.new("--help")
        self.assertEqual(p.returncode, 0, p.out)
        self.assertIn("usage: spindle new NAME [DIR]", p.out)
        self.assertEqual(self.new("a", "b", "c").returncode, EX_USAGE)

    def test_name_not_identifier(self):
        for name, why in (("1abc", "starts with a letter"), ("my-app", "only letters, digits"),
                          ("tasks", "built-in module"), ("a" * 65, "longer than 64"),
                          ("test", "CMake keeps that target name")):
            p = self.new(name)
            self.assertEqual(p.returncode, EX_USAGE, (name, p.out))
            self.assertIn("cannot name a module", p.out)
            self.assertIn(why, p.out)
            self.assertEqual(os.listdir(self.dir), [], name)

    def test_occupied_folder(self):
        taken = os.path.join(self.dir, "taken")
        os.mkdir(taken)
        with open(os.path.join(taken, "mine.c"), "w") as f:
            f.write("keep me")
        p = self.new("demo", taken)
        self.assertEqual(p.returncode, EX_CANTCREAT, p.out)
        self.assertIn("exists and is not empty", p.out)
        self.assertEqual(os.listdir(taken), ["mine.c"])
        a_file = os.path.join(self.dir, "file")
        open(a_file, "w").close()
        p = self.new("demo", a_file)
        self.assertEqual(p.returncode, EX_CANTCREAT, p.out)
        self.assertIn("not a folder", p.out)

    def test_empty_folder_and_nested_path(self):
        os.mkdir(os.path.join(self.dir, "empty"))
        self.assertEqual(self.new("demo", "empty").returncode, 0)
        self.assertTrue(os.path.isfile(os.path.join(self.dir, "empty", "demo.c")))
        p = self.new("demo2", "a/b/c")
        self.assertEqual(p.returncode, 0, p.out)
        made = sorted(os.path.relpath(os.path.join(r, f), os.path.join(self.dir, "a/b/c"))
                      for r, _, fs in os.walk(os.path.join(self.dir, "a/b/c")) for f in fs)
        self.assertEqual(made, [".gitignore", "CMakeLists.txt", "README.md", "demo2.c",
                                "server.ini", "tests/test_demo2.py"])


class Project(unittest.TestCase):
    """Made, built against an installed SDK, tested by its own ctest."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="spindle-new-")
        cls.prefix = os.path.join(cls.dir, "prefix")
        cls.spindle = install_sdk(cls.prefix)
        p = run([cls.spindle, "new", "shop"], cwd=cls.dir)
        cls.made = p.out
        cls.project = os.path.join(cls.dir, "shop")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def test_says_next_commands(self):
        self.assertIn("cd shop", self.made)
        self.assertIn("cmake -B build && cmake --build build", self.made)
        self.assertIn("ctest --test-dir build", self.made)
        with open(os.path.join(self.project, "README.md")) as f:
            readme = f.read()
        for cmd in ("cmake -B build && cmake --build build", "ctest --test-dir build",
                    "spindle dev server.ini"):
            self.assertIn(cmd, readme)

    def test_files_name_the_project(self):
        with open(os.path.join(self.project, "server.ini")) as f:
            ini = f.read()
        self.assertIn("listen = 127.0.0.1:8000", ini)
        self.assertIn("module = build/shop.so", ini)
        self.assertIn("middleware = shop_timing", ini)
        self.assertIn("[module:tasks]", ini)
        for path in ("shop.c", "CMakeLists.txt", "server.ini", "README.md", "tests/test_shop.py"):
            with open(os.path.join(self.project, path)) as f:
                self.assertNotIn("@NAME@", f.read(), path)

    def test_builds_and_passes_its_test(self):
        build_project(self.project, self.prefix)
        self.assertTrue(os.path.isfile(os.path.join(self.project, "build", "shop.so")))
        p = ctest_project(self.project)
        self.assertIn("100% tests passed", p.out)
        # spindle -t accepts the project's own server.ini as written
        p = run([self.spindle, "-t", os.path.join(self.project, "server.ini")])
        self.assertIn("is ok", p.out)

    def test_pkg_config(self):
        if shutil.which("pkg-config") is None or shutil.which("cc") is None:
            self.skipTest("no pkg-config or cc")
        env = {"PKG_CONFIG_PATH": os.path.join(self.prefix, "share", "pkgconfig")}
        cflags = run(["pkg-config", "--cflags", "spindle"], env=env).out.split()
        self.assertEqual([os.path.normpath(c[2:]) for c in cflags],
                         [os.path.join(self.prefix, "include")])
        out = os.path.join(self.dir, "by-pkg-config.so")
        run(["cc", "-shared", "-fPIC", "-fvisibility=hidden"] + cflags +
            [os.path.join(self.project, "shop.c"), "-o", out])
        p = run([self.spindle, "-t", "--listen", "127.0.0.1:1", "--module", out,
                 "--middleware", "shop_timing"], check=False)
        self.assertEqual(p.returncode, 0, p.out)


if __name__ == "__main__":
    unittest.main()
