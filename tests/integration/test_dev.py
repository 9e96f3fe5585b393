"""`spindle dev`: a real project (spindle new), a real editor's save, a real
compiler.  Edit the handler's text: the new text is served.  A syntax
error: the compiler's message is printed and the old text still served.
Fixed: the new text is served.  The time from each save to the first
answer with the new text is printed (the tests never assert it)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from project_harness import build_project, install_sdk, module_env, run
from spindle_harness import WAIT, _die_with_parent, free_port, get, group_members, wait_until

CHANGE_TIMEOUT = 120.0  # a rebuild and a reload on a loaded machine


class DevLoop(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-dev-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.spindle = install_sdk(os.path.join(self.dir, "prefix"))
        run([self.spindle, "new", "app"], cwd=self.dir)
        self.project = os.path.join(self.dir, "app")
        self.source = os.path.join(self.project, "app.c")
        self.port = free_port()
        ini = os.path.join(self.project, "server.ini")
        with open(ini) as f:
            text = f.read()
        with open(ini, "w") as f:
            f.write(text.replace("listen = 127.0.0.1:8000", "listen = 127.0.0.1:%d" % self.port))
        # configured here, so the dev loop's first build is a plain rebuild
        build_project(self.project, os.path.join(self.dir, "prefix"))
        self.log_path = os.path.join(self.dir, "dev.log")
        self.log = open(self.log_path, "w")
        self.addCleanup(self.log.close)
        env = dict(os.environ)
        env.update(module_env())
        self.proc = subprocess.Popen([self.spindle, "dev", "server.ini"], cwd=self.project,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, env=env,
                                     preexec_fn=_die_with_parent)
        self.addCleanup(self.kill)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def message(self):
        try:
            r = get(self.port, "/")
        except OSError:
            return None
        return json.loads(r.body)["message"] if r.status == 200 else None

    def wait_message(self, want):
        got = wait_until(lambda: self.message() == want or self.proc.poll() is not None,
                         CHANGE_TIMEOUT)
        self.assertIsNone(self.proc.poll(), "spindle dev exited:\n" + self.output())
        self.assertTrue(got, "never served %r; output:\n%s" % (want, self.output()))

    def save(self, old, new):
        """What an editor does: write a new file beside, rename over."""
        with open(self.source) as f:
            text = f.read()
        self.assertIn(old, text)
        tmp = self.source + ".swp"
        with open(tmp, "w") as f:
            f.write(text.replace(old, new))
        os.replace(tmp, self.source)
        return time.monotonic()

    def test_edit_break_fix(self):
        self.wait_message("Hello from app")
        # 1. a new text is served
        t0 = self.save('"Hello from app"', '"Hello, edited"')
        self.wait_message("Hello, edited")
        first = time.monotonic() - t0
        # 2. a syntax error: printed in full, the old code keeps serving
        self.save('"Hello, edited"', '"Hello, edited" this is not C')
        self.assertTrue(wait_until(lambda: "the build failed" in self.output(), CHANGE_TIMEOUT),
                        self.output())
        out = self.output()
        self.assertRegex(out, r"app\.c:\d+:\d+: error:")
        self.assertEqual(self.message(), "Hello, edited")
        # 3. fixed: the new text is served
        t0 = self.save('"Hello, edited" this is not C', '"Hello, fixed"')
        self.wait_message("Hello, fixed")
        second = time.monotonic() - t0
        builds = re.findall(r"built in (\d+) ms", self.output())
        sys.stderr.write("\nspindle dev: save -> new code answering: %.2f s, %.2f s "
                         "(builds %s ms)\n" % (first, second, ", ".join(builds)))
        # Ctrl-C's graceful path: TERM stops the server, then spindle dev
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(60), 0, self.output())
        self.assertTrue(wait_until(lambda: not group_members(self.proc.pid), WAIT),
                        group_members(self.proc.pid))

    def test_bad_ini_then_fixed(self):
        self.wait_message("Hello from app")
        ini = os.path.join(self.project, "server.ini")
        with open(ini) as f:
            good = f.read()
        with open(ini, "w") as f:
            f.write(good.replace("threads = 4", "threads = lots"))
        # the master refuses the reload and says why; the old workers serve
        self.assertTrue(wait_until(lambda: "reload refused" in self.output(), CHANGE_TIMEOUT),
                        self.output())
        self.assertIn("threads", self.output().split("reload refused", 1)[1])
        self.assertEqual(self.message(), "Hello from app")
        with open(ini, "w") as f:
            f.write(good)
        self.save('"Hello from app"', '"Hello, after"')
        self.wait_message("Hello, after")


class NoBuild(unittest.TestCase):
    """A project without CMakeLists.txt (a Python application, a module
    built elsewhere): nothing is built; *.py and *.ini changes reload."""

    def test_reload_without_build(self):
        from spindle_harness import BIN, example
        d = tempfile.mkdtemp(prefix="spindle-dev-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        # the ini names lib/hello.so, which only the build folder has: the
        # loop installs it (written beside, renamed over) before starting
        os.makedirs(os.path.join(d, "build"))
        os.makedirs(os.path.join(d, "lib"))
        shutil.copy(example("hello"), os.path.join(d, "build", "hello.so"))
        with open(os.path.join(d, "server.ini"), "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\nthreads = 2\n"
                    "[app]\nmodule = lib/hello.so\n" % port)
        log_path = os.path.join(d, "dev.log")
        log = open(log_path, "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen([BIN, "dev"], cwd=d, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)

        def output():
            with open(log_path, errors="replace") as f:
                return f.read()

        def kill():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.addCleanup(kill)

        def answers():
            try:
                return get(port, "/").status == 200
            except OSError:
                return False
        self.assertTrue(wait_until(answers, CHANGE_TIMEOUT), output())
        self.assertIn("building nothing", output())
        self.assertIn("installed %s/build/hello.so as %s/lib/hello.so" % (d, d), output())
        self.assertEqual(os.listdir(os.path.join(d, "lib")), ["hello.so"])
        # nothing reloads until something changes (not even the install)
        self.assertNotIn("reloading the workers", output())
        with open(os.path.join(d, "app.py"), "w") as f:
            f.write("print('hi')\n")
        self.assertTrue(wait_until(lambda: "reload done" in output(), CHANGE_TIMEOUT), output())
        self.assertIn("app.py changed", output())
        self.assertTrue(answers())
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(60), 0, output())


class Usage(unittest.TestCase):
    def test_help_lists_every_subcommand(self):
        from spindle_harness import BIN
        for args, rc in (([], 64), (["--help"], 0)):
            p = run([BIN] + args, check=False)
            self.assertEqual(p.returncode, rc, p.out)
            for sub in ("spindle new NAME [DIR]", "spindle dev [server.ini]", "spindle ctl",
                        "spindle -t", "spindle -T"):
                self.assertIn(sub, p.out, args)
        p = run([BIN, "dev", "--help"])
        self.assertIn("usage: spindle dev", p.out)

    def test_missing_ini(self):
        from spindle_harness import BIN
        d = tempfile.mkdtemp(prefix="spindle-dev-")
        self.addCleanup(shutil.rmtree, d, True)
        p = run([BIN, "dev"], cwd=d, check=False)
        self.assertEqual(p.returncode, 66, p.out)
        self.assertIn("server.ini", p.out)
        self.assertIn("usage: spindle dev", p.out)


if __name__ == "__main__":
    unittest.main()
