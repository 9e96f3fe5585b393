"""The Debian package (bash scripts/dev.sh package): installed with apt-get
into this machine, it holds the server, the SDK (header, CMake package,
pkg-config file), the systemd unit and socket, the logrotate file and the
examples; a `spindle new` project builds against it with no prefix setting,
passes its own test, and the packaged example module serves a request.
Then the package is purged, so the machine is left as found.

Needs root and apt-get (skipped otherwise, saying so); skipped too when a
spindle package is installed already (it is not this test's to replace).
The .deb is BUILD/spindle_*.deb (bash scripts/dev.sh test makes it before
the suite), else the one in the source tree's build/, else it is built."""

import fcntl
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from project_harness import build_project, ctest_project, run
from spindle_harness import BUILD, SRC, WAIT, free_port, get, wait_until

LOCK = "/run/lock/spindle-test-package.lock"  # one installer at a time on this machine
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
APT_LOCK = ["-o", "DPkg::Lock::Timeout=300"]


def find_deb():
    for folder in (BUILD, os.path.join(SRC, "build")):
        debs = sorted(glob.glob(os.path.join(folder, "spindle_*.deb")))
        if debs:
            return debs[-1]
    run(["bash", os.path.join(SRC, "scripts", "dev.sh"), "package"], env={"BUILD_DIR": BUILD},
        timeout=1200)
    return sorted(glob.glob(os.path.join(BUILD, "spindle_*.deb")))[-1]


def installed(pkg):
    p = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
    return p.returncode == 0 and "ok installed" in p.out


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("installing a .deb needs root")
        if not shutil.which("apt-get") or not shutil.which("dpkg-query"):
            raise unittest.SkipTest("no apt-get/dpkg on this machine")
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        cls.lock = open(LOCK, "w")
        fcntl.flock(cls.lock, fcntl.LOCK_EX)
        if installed("spindle"):
            cls.lock.close()
            raise unittest.SkipTest("a spindle package is installed already: left alone")
        cls.dir = tempfile.mkdtemp(prefix="spindle-deb-")
        cls.deb = find_deb()
        # apt-get wants a path with a slash to read it as a file
        local = os.path.join(cls.dir, os.path.basename(cls.deb))
        shutil.copy(cls.deb, local)
        try:
            run(["apt-get", "install", "-y", "--no-install-recommends"] + APT_LOCK + [local],
                env=APT_ENV, timeout=600)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if installed("spindle"):
                run(["apt-get", "purge", "-y"] + APT_LOCK + ["spindle"], env=APT_ENV,
                    timeout=600)
        finally:
            shutil.rmtree(cls.dir, True)
            cls.lock.close()

    def test_files(self):
        for path in ("/usr/bin/spindle", "/usr/include/spindle/spindle.h",
                     "/usr/share/pkgconfig/spindle.pc", "/usr/lib/systemd/system/spindle.service",
                     "/usr/lib/systemd/system/spindle.socket", "/etc/logrotate.d/spindle",
                     "/usr/share/doc/spindle/examples/server.ini"):
            self.assertTrue(os.path.isfile(path), path)
        self.assertTrue(glob.glob("/usr/lib/*/cmake/spindle/spindleConfig.cmake") or
                        glob.glob("/usr/lib/cmake/spindle/spindleConfig.cmake"))
        with open("/usr/lib/systemd/system/spindle.service") as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/bin/spindle /etc/spindle/server.ini", unit)
        self.assertIn("Type=notify", unit)
        p = run(["/usr/bin/spindle", "--version"])
        self.assertRegex(p.out, r"^spindle \S+ \(module ABI \d+\.\d+\)")
        p = run(["pkg-config", "--cflags", "spindle"], env={"PKG_CONFIG_PATH": ""})
        self.assertEqual([os.path.normpath(c[2:]) for c in p.out.split()], ["/usr/include"])
        p = run(["dpkg-query", "-W", "-f=${Conffiles}", "spindle"])
        self.assertIn("/etc/logrotate.d/spindle", p.out)

    def test_example_config_checks(self):
        # the packaged server.ini names the packaged example modules
        p = run(["/usr/bin/spindle", "-t", "/usr/share/doc/spindle/examples/server.ini"])
        self.assertIn("is ok", p.out)

    def test_new_project_against_installed_sdk(self):
        run(["/usr/bin/spindle", "new", "demo"], cwd=self.dir)
        project = os.path.join(self.dir, "demo")
        env = {"CMAKE_PREFIX_PATH": "", "PKG_CONFIG_PATH": ""}
        run(["cmake", "-S", project, "-B", os.path.join(project, "build")], env=env)
        with open(os.path.join(project, "build", "CMakeCache.txt")) as f:
            cache = f.read()
        self.assertIn("SPINDLE_EXECUTABLE:FILEPATH=/usr/bin/spindle", cache)
        build_project(project)
        p = ctest_project(project)
        self.assertIn("100% tests passed", p.out)

    def test_serves_a_request(self):
        hello = glob.glob("/usr/lib/*/spindle/examples/hello.so")[0]
        port = free_port()
        ini = os.path.join(self.dir, "hello.ini")
        with open(ini, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\nthreads = 2\n"
                    "[app]\nmodule = %s\n" % (port, hello))
        log = open(os.path.join(self.dir, "hello.log"), "w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen(["/usr/bin/spindle", ini], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)

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
                return get(port, "/")
            except OSError:
                return None
        r = wait_until(answer, WAIT)
        log.seek(0)
        self.assertNotEqual(r, "exited", log.read())
        self.assertEqual((r.status, r.body), (200, b"Hello, World!"))
        stop()
        self.assertEqual(proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
