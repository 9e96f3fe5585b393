"""Configuration: errors name file:line and key and exit 78 (both when
serving and with -t), -t / -T, the shipped example ini, includes, $(VAR)."""

import os
import shutil
import tempfile
import unittest

from spindle_harness import (EX_CONFIG, SRC, WAIT, Server, example, free_port, get, run_binary,
                             skip_if_sanitized, test_module, threads, wait_until, worker_threads)


def ini_lines(port, *extra_server, app=None):
    """server.ini text; returns (text, line_of) where line_of maps a marker
    key to its 1-based line number."""
    lines = ["; spindle integration test", "[server]", "listen = 127.0.0.1:%d" % port,
             "processes = 1", "threads = 2"]
    lines += list(extra_server)
    lines += ["", "[app]", "module = %s" % example("hello")]
    lines += list(app or [])
    return "\n".join(lines) + "\n"


def line_of(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError("%r not in config" % needle)


class CheckTellsTheTruth(unittest.TestCase):
    """spindle -t does everything a start does short of serving: each of
    these configs used to pass -t and then fail to start.  Now -t refuses
    each with exit 78 and a message naming the mistake, and a start refuses
    it the same way."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()

    def refused(self, text, *needles, start_too=True):
        path = os.path.join(self.dir, "server.ini")
        with open(path, "w") as f:
            f.write(text)
        for args in (["-t", path], [path]) if start_too else (["-t", path],):
            rc, out, err = run_binary(args, timeout=20)
            self.assertEqual(rc, EX_CONFIG, "args %r: rc %r\n%s%s" % (args, rc, out, err))
            for needle in needles:
                self.assertIn(needle, err, "args %r: %r not said:\n%s" % (args, needle, err))
            self.assertNotIn("is ok", out)
        with self.assertRaises(OSError):
            get(self.port, "/", timeout=1)
        return err

    def test_preload_that_is_not_a_boolean(self):
        text = ini_lines(self.port, app=["preload = sometimes"])
        self.refused(text, "server.ini:%d: preload: 'sometimes' is not a boolean (accepted: true, "
                     "false, yes, no, on, off, 1 or 0)" % line_of(text, "preload ="))

    def test_unknown_middleware(self):
        self.refused(ini_lines(self.port, app=["middleware = acces_log"]),
                     "middleware: no middleware named 'acces_log'")

    def test_route_to_a_symbol_not_exported(self):
        self.refused(ini_lines(self.port, app=["module = %s" % test_module("config_routes"),
                                               "route = GET /x config_routes:get_item"]),
                     "get_item")

    def test_access_log_that_cannot_be_opened(self):
        self.refused(ini_lines(self.port, app=["middleware = access_log", "",
                                               "[module:access_log]",
                                               "file = /nonexistent-dir/access.log"]),
                     "access_log: cannot open /nonexistent-dir/access.log")

    def test_cron_naming_a_missing_symbol(self):
        text = ini_lines(self.port) + "\n[tasks]\nspool = %s\n\n[cron]\n* * * * * hello:nope\n" % (
            os.path.join(self.dir, "spool"))
        self.refused(text, "cron: ", "nope")

    def test_misspelt_module_section(self):
        text = ini_lines(self.port, app=["middleware = access_log"]) + (
            "\n[module:acces_log]\nfile = %s\n" % os.path.join(self.dir, "a.log"))
        self.refused(text, "[module:acces_log]: no module named 'acces_log' is loaded",
                     "did you mean [module:access_log]?")

    def test_misspelt_module_key(self):
        text = ini_lines(self.port, app=["middleware = access_log"]) + (
            "\n[module:access_log]\nfille = %s\n" % os.path.join(self.dir, "a.log"))
        self.refused(text, "[module:access_log]: fille: unknown key (accepted: file, format); "
                     "did you mean 'file'?")

    def test_module_paths_are_relative_to_their_ini_file(self):
        # The section comes from an included file in a subfolder; -t runs
        # from another working directory and access_log opens its file.
        sub = os.path.join(self.dir, "conf.d")
        os.mkdir(sub)
        with open(os.path.join(sub, "log.ini"), "w") as f:
            f.write("[module:access_log]\nfile = access.log\n")
        path = os.path.join(self.dir, "server.ini")
        with open(path, "w") as f:
            f.write(ini_lines(self.port, app=["middleware = access_log"]) +
                    "include = conf.d/log.ini\n")
        rc, out, err = run_binary(["-t", path], timeout=20, cwd="/")
        self.assertEqual(rc, 0, out + err)
        self.assertTrue(os.path.exists(os.path.join(sub, "access.log")), os.listdir(sub))
        self.assertFalse(os.path.exists("/access.log"))

    def test_owner_that_does_not_exist(self):
        for line, said in (("control-owner = nosuchuser-xyz", "control-owner: no user 'nosuchuser-xyz'"),
                           ("socket-owner = root:nosuchgroup-xyz",
                            "socket-owner: no group 'nosuchgroup-xyz'"),
                           ("uid = nosuchuser-xyz", "uid: no user 'nosuchuser-xyz'")):
            with self.subTest(line=line):
                self.refused(ini_lines(self.port, line), said, start_too=False)

    def test_log_file_in_a_missing_folder(self):
        self.refused(ini_lines(self.port, "log-file = /nonexistent-dir/error.log"),
                     "log-file: cannot open /nonexistent-dir/error.log", start_too=False)

    @skip_if_sanitized  # UBSan stops the null store first: exit 1, not a crash
    def test_module_that_crashes_at_load(self):
        self.refused(ini_lines(self.port, app=["module = %s" % test_module("crash_at_load")]),
                     "crashed while loading", start_too=False)

    def test_good_config_with_everything_passes(self):
        path = os.path.join(self.dir, "server.ini")
        with open(path, "w") as f:
            f.write(ini_lines(self.port, "log-file = %s" % os.path.join(self.dir, "e.log"),
                              app=["middleware = access_log",
                                   "module = %s" % test_module("config_routes"),
                                   "route = GET /x config_routes:cr_one", "",
                                   "[module:access_log]",
                                   "file = %s" % os.path.join(self.dir, "a.log")]))
        rc, out, err = run_binary(["-t", path], timeout=20)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("is ok", out)


class ConfigErrors(unittest.TestCase):
    """Each bad config: exit 78, one message "FILE:LINE: KEY: ...", when
    serving and with -t, and nothing keeps running."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()

    def write(self, text, name="server.ini"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check_error(self, text, needle, key):
        path = self.write(text)
        line = line_of(text, needle)
        expect = "%s:%d: %s:" % (path, line, key)
        for args in ([path], ["-t", path]):
            rc, out, err = run_binary(args, timeout=15)
            self.assertEqual(rc, EX_CONFIG, "args %r: rc %r\nstdout:%s\nstderr:%s" % (args, rc, out, err))
            self.assertIn(expect, err, "args %r: stderr does not name %r:\n%s" % (args, expect, err))
        # It never served.
        with self.assertRaises(OSError):
            get(self.port, "/", timeout=1)

    def test_threads_not_a_number(self):
        self.check_error(ini_lines(self.port, "threads = abc"), "threads = abc", "threads")

    def test_processes_zero(self):
        self.check_error(ini_lines(self.port, "processes = 0"), "processes = 0", "processes")

    def test_threads_out_of_range(self):
        self.check_error(ini_lines(self.port, "threads = 100000000"), "threads = 100000000", "threads")

    def test_listen_bad_address(self):
        self.check_error(ini_lines(self.port, "listen = nowhere:99999"), "nowhere:99999", "listen")

    def test_unknown_key(self):
        self.check_error(ini_lines(self.port, "no-such-key = 1"), "no-such-key", "no-such-key")

    def test_unknown_key_in_app(self):
        self.check_error(ini_lines(self.port, app=["not-an-app-key = x"]), "not-an-app-key",
                         "not-an-app-key")

    def test_missing_include(self):
        missing = os.path.join(self.dir, "does-not-exist.ini")
        self.check_error(ini_lines(self.port, "include = %s" % missing), "include =", "include")

    def test_bad_route_line(self):
        self.check_error(ini_lines(self.port, app=["route = GET"]), "route = GET", "route")

    def test_error_in_included_file_names_that_file(self):
        inc = self.write("[server]\n; comment\nthreads = lots\n", "inc.ini")
        path = self.write(ini_lines(self.port, "include = %s" % inc))
        rc, out, err = run_binary(["-t", path])
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertIn("%s:3: threads:" % inc, err)

    def test_missing_ini_file(self):
        missing = os.path.join(self.dir, "nope.ini")
        for args in ([missing], ["-t", missing]):
            rc, out, err = run_binary(args)
            self.assertEqual(rc, EX_CONFIG, "args %r rc %r: %s" % (args, rc, err))
            self.assertIn(missing, err)

    def test_unknown_cli_flag(self):
        path = self.write(ini_lines(self.port))
        rc, out, err = run_binary(["-t", path, "--no-such-flag", "1"])
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertIn("no-such-flag", err)

    def test_bad_cli_value(self):
        path = self.write(ini_lines(self.port))
        rc, out, err = run_binary(["-t", path, "--threads", "abc"])
        self.assertEqual(rc, EX_CONFIG, err)
        self.assertIn("threads", err)


class CheckAndPrint(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()

    def write(self, text, name="server.ini"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_bare_spindle_shows_usage(self):
        rc, out, err = run_binary([])
        self.assertEqual(rc, 64, out + err)
        for word in ("usage: ", "spindle -t server.ini", "spindle ctl --control", "--help"):
            self.assertIn(word, err)
        rc, out, err = run_binary(["--help"])
        self.assertEqual(rc, 0, err)
        for word in ("spindle -t server.ini", "spindle -T server.ini", "spindle ctl --control"):
            self.assertIn(word, out)

    def test_check_ok(self):
        path = self.write(ini_lines(self.port))
        rc, out, err = run_binary(["-t", path])
        self.assertEqual(rc, 0, out + err)
        # -t does not serve.
        with self.assertRaises(OSError):
            get(self.port, "/", timeout=1)

    def test_print_effective_config(self):
        path = self.write(ini_lines(self.port, "processes = 3", "threads = 7",
                                    "limit-body = 12345"))
        rc, out, err = run_binary(["-T", path, "--threads", "5"])
        self.assertEqual(rc, 0, err)
        # The last processes line wins; the command line beats the file.
        self.assertRegex(out, r"(?m)^\s*processes\s*=\s*3\s*$")
        self.assertRegex(out, r"(?m)^\s*threads\s*=\s*5\s*$")
        self.assertRegex(out, r"(?m)^\s*limit-body\s*=\s*12345\s*$")
        self.assertIn("127.0.0.1:%d" % self.port, out)
        self.assertIn(example("hello"), out)

    def test_printed_config_is_valid_ini(self):
        path = self.write(ini_lines(self.port, "threads = 3"))
        rc, out, err = run_binary(["-T", path])
        self.assertEqual(rc, 0, err)
        again = self.write(out, "printed.ini")
        rc, out2, err2 = run_binary(["-t", again])
        self.assertEqual(rc, 0, "the -T output does not pass -t:\n%s\n%s" % (out, err2))
        rc, out3, err3 = run_binary(["-T", again])
        self.assertEqual(out3, out, "-T of the -T output differs")

    def test_example_ini_is_shipped_server_ini(self):
        rc, out, err = run_binary(["--print-example-ini"])
        self.assertEqual(rc, 0, err)
        with open(os.path.join(SRC, "conf", "server.ini")) as f:
            shipped = f.read()
        self.assertEqual(out, shipped, "conf/server.ini is not what --print-example-ini prints; "
                         "regenerate it")

    def test_example_ini_checks(self):
        rc, out, err = run_binary(["-t", os.path.join(SRC, "conf", "server.ini")], cwd=SRC)
        self.assertEqual(rc, 0, out + err)

    def test_help_lists_every_option(self):
        rc, out, err = run_binary(["--help"])
        self.assertEqual(rc, 0, err)
        for opt in ("--processes", "--threads", "--listen", "--limit-body", "--timeout-header",
                    "--graceful-timeout", "--module", "--middleware", "--route"):
            self.assertIn(opt, out)

    def test_version(self):
        rc, out, err = run_binary(["--version"])
        self.assertEqual(rc, 0, err)
        self.assertIn("0.1.0", out + err)

    def test_env_expansion(self):
        path = self.write(ini_lines(self.port, "threads = $(SP_IT_THREADS)"))
        rc, out, err = run_binary(["-T", path], env={"SP_IT_THREADS": "6"})
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^\s*threads\s*=\s*6\s*$")

    def test_include(self):
        inc = self.write("[server]\nthreads = 9\n", "inc.ini")
        path = self.write(ini_lines(self.port, "include = %s" % inc))
        rc, out, err = run_binary(["-T", path])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^\s*threads\s*=\s*9\s*$")

    def test_comments_and_repeated_keys(self):
        text = ini_lines(self.port, "# a comment", "; another", "threads = 2", "threads = 4",
                         app=["module = %s" % example("echo")])
        path = self.write(text)
        rc, out, err = run_binary(["-T", path])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^\s*threads\s*=\s*4\s*$")
        self.assertIn(example("hello"), out)
        self.assertIn(example("echo"), out)
        self.assertLess(out.index(example("hello")), out.index(example("echo")))


class ConfigTakesEffect(unittest.TestCase):
    def test_served_config_from_include_and_env(self):
        d = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, d, True)
        inc = os.path.join(d, "threads.ini")
        with open(inc, "w") as f:
            f.write("[server]\nthreads = $(SP_IT_THREADS)\n")
        cfg = ("[server]\nlisten = 127.0.0.1:@PORT@\nprocesses = 1\ninclude = %s\n"
               "[app]\nmodule = %s\n" % (inc, example("hello")))
        with Server(cfg, env={"SP_IT_THREADS": "3"}) as s:
            ws = s.workers()
            self.assertEqual(len(ws), 1)
            self.assertTrue(wait_until(lambda: threads(ws[0]) == worker_threads(3), WAIT),
                            threads(ws[0]))
            self.assertEqual(get(s.port, "/").status, 200)


if __name__ == "__main__":
    unittest.main()
