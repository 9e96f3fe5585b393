"""docs/tutorial.md, run: every `sh` block in order, in one bash, in a temp
folder where `build` is the spindle build under test; /opt/spindle becomes
a temp prefix, /srv/shop a temp folder, the ports 8000 and 8080 free ones
(in the project's server.ini too, right after `spindle new`).

Blocks marked `sh systemd` need systemd as PID 1 and root: the test runs
their lines that touch neither /etc, systemctl nor the system's nginx (the
module and config put where the unit reads them, `spindle -t`), checks the
unit with `systemd-analyze verify` when the machine has it and its fields
always, then starts the unit's ExecStart itself and asks it a request.
Also provokes the "exports no symbol" error the tutorial quotes."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import unittest

from project_harness import module_env, run
from spindle_harness import BUILD, SRC, WAIT, _die_with_parent, free_port, get, wait_until

TUTORIAL = os.path.join(SRC, "docs", "tutorial.md")
BLOCK = re.compile(r"^```(sh[^\n]*)\n(.*?)^```[ \t]*$", re.M | re.S)
SYSTEM_LINE = re.compile(r"/etc/|systemctl|nginx|127\.0\.0\.1/")


def blocks():
    with open(TUTORIAL) as f:
        text = f.read()
    return [(info.split(), body) for info, body in BLOCK.findall(text)]


class Tutorial(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="spindle-tut-")
        cls.work = os.path.join(cls.dir, "work")
        os.mkdir(cls.work)
        os.symlink(BUILD, os.path.join(cls.work, "build"))
        cls.prefix = os.path.join(cls.dir, "opt-spindle")
        cls.srv = os.path.join(cls.dir, "srv-shop")
        cls.port, cls.port2 = free_port(), free_port()
        while cls.port2 == cls.port:
            cls.port2 = free_port()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)

    def subst(self, text):
        text = text.replace("/opt/spindle", self.prefix).replace("/srv/shop", self.srv)
        text = text.replace("127.0.0.1:8000", "127.0.0.1:%d" % self.port)
        return re.sub(r"\b8080\b", str(self.port2), text)

    def script(self, bodies):
        out = ["set -euo pipefail"]
        for i, body in enumerate(bodies, 1):
            out.append("echo '== tutorial block %d' >&2" % i)
            out.append(self.subst(body))
            if "spindle new shop" in body:
                out.append("sed -i 's/^listen = 127.0.0.1:8000$/listen = 127.0.0.1:%d/' "
                           "server.ini" % self.port)
        return "\n".join(out) + "\n"

    def test_tutorial(self):
        bs = blocks()
        plain = [b for info, b in bs if info == ["sh"]]
        system = [b for info, b in bs if "systemd" in info[1:]]
        self.assertGreaterEqual(len(plain), 7)
        self.assertEqual(len(system), 1)
        self.assertFalse([info for info, _ in bs if info != ["sh"] and "systemd" not in info])
        env = module_env()
        env["PATH"] = os.environ["PATH"]
        p = run(["bash", "-c", self.script(plain)], cwd=self.work, env=env, timeout=900,
                check=False)
        self.assertEqual(p.returncode, 0, p.out)
        out = p.out
        # what the commands printed: the JSON route, the item, the task, the edit, nginx
        self.assertIn('"message":"Hello from shop"', out)
        self.assertIn('{"id":"42"}', out)
        self.assertIn("HTTP/1.1 202", out)
        self.assertIn('"name":"shop.count"', out)
        self.assertIn('{"name":"a new item"}', out)
        self.assertIn('"result":{"words":3}', out)
        self.assertIn('"message":"Hello, edited"', out)
        self.assertIn('{"id":"7"}', out)
        project = os.path.join(self.work, "shop")

        # the systemd block, as far as it runs without systemd
        sysblock = [line for line in self.subst(system[0]).splitlines()
                    if line.strip() and not SYSTEM_LINE.search(line)]
        self.assertTrue(any("install" in line for line in sysblock), sysblock)
        env["PATH"] = os.path.join(self.prefix, "bin") + ":" + env["PATH"]  # as block 1 set it
        run(["bash", "-c", "set -euo pipefail\n" + "\n".join(sysblock)], cwd=project, env=env)
        unit = os.path.join(project, "deploy", "shop.service")
        self.check_unit(unit)
        self.start_like_the_unit(unit)
        self.exports_no_symbol(project)

    def check_unit(self, unit):
        with open(unit) as f:
            text = f.read()
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        self.assertEqual(fields["Type"], "notify")
        self.assertEqual(fields["ExecReload"], "/bin/kill -HUP $MAINPID")
        self.assertEqual(fields["WantedBy"], "multi-user.target")
        exe, ini = shlex.split(fields["ExecStart"])
        self.assertEqual(exe, os.path.join(self.prefix, "bin", "spindle"))
        self.assertEqual(ini, os.path.join(self.srv, "server.ini"))
        if shutil.which("systemd-analyze"):
            p = run(["systemd-analyze", "verify", unit], check=False)
            self.assertEqual(p.returncode, 0, p.out)
            self.assertNotIn(os.path.basename(unit) + ":", p.out)  # no line it ignored

    def start_like_the_unit(self, unit):
        with open(unit) as f:
            start = re.search(r"(?m)^ExecStart=(.*)$", f.read()).group(1)
        log = open(os.path.join(self.dir, "unit.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(shlex.split(start), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_die_with_parent)

        def stop():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        self.addCleanup(stop)

        def answer():
            if proc.poll() is not None:
                return "exited"
            try:
                return get(self.port, "/items/7")
            except OSError:
                return None
        r = wait_until(answer, WAIT)
        log.seek(0)
        self.assertNotEqual(r, "exited", log.read())
        self.assertEqual((r.status, json.loads(r.body)), (200, {"id": "7"}))
        stop()
        self.assertEqual(proc.returncode, 0)

    def exports_no_symbol(self, project):
        ini = os.path.join(self.dir, "route.ini")
        with open(os.path.join(project, "server.ini")) as f:
            text = f.read()
        text = text.replace("module = build/shop.so",
                            "module = %s/build/shop.so\nroute = GET /x shop:handler" % project)
        with open(ini, "w") as f:
            f.write(text)
        p = run([os.path.join(self.prefix, "bin", "spindle"), "-t", ini], check=False)
        self.assertEqual(p.returncode, 78, p.out)
        self.assertRegex(p.out, r"route\.ini:\d+: route: module 'shop' \(.*shop\.so\) exports "
                         r"no symbol 'handler' \(a function server.ini names must be defined "
                         r"with SP_EXPORT; modules are built with hidden symbols\)")


if __name__ == "__main__":
    unittest.main()
