"""Module loading: refused modules stop the server with exit 78 and a
message naming the file; good test modules read their config, define
middleware, and route exported symbols from server.ini."""

import os
import shutil
import tempfile
import unittest

from ops_load import stats
from spindle_harness import (EX_CONFIG, WAIT, Server, ServerCase, build_request, connect,
                             default_config, example, free_port, get, http, parse_responses,
                             read_until_close, run_binary, test_module, wait_until)


class RefusedModules(unittest.TestCase):
    """The server must not start with a module it cannot use."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.port = free_port()

    def run_with(self, module_path):
        path = os.path.join(self.dir, "server.ini")
        with open(path, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 2\nthreads = 2\n"
                    "[app]\nmodule = %s\nmodule = %s\n" % (self.port, example("hello"), module_path))
        rc, out, err = run_binary([path], timeout=20)
        self.assertEqual(rc, EX_CONFIG, "rc %r\nstdout:%s\nstderr:%s" % (rc, out, err))
        self.assertIn(module_path, err, "the message does not name the module file")
        with self.assertRaises(OSError):
            get(self.port, "/", timeout=1)
        return err

    def test_missing_file(self):
        self.run_with(os.path.join(self.dir, "no-such-module.so"))

    def test_no_descriptor(self):
        err = self.run_with(test_module("no_descriptor"))
        self.assertIn("spindle_module", err)

    def test_bad_magic(self):
        err = self.run_with(test_module("bad_magic"))
        self.assertRegex(err.lower(), r"magic")

    def test_wrong_abi_major(self):
        err = self.run_with(test_module("wrong_abi"))
        line = [l for l in err.splitlines() if test_module("wrong_abi") in l][0]
        # What follows the file name (the log prefix holds "worker 1").
        rest = line.split(test_module("wrong_abi"), 1)[1]
        # Names both versions: the module's 99 and the server's 1.
        self.assertRegex(rest, r"(?<![\d.])99(\.\d+)?(?![\d.])")
        self.assertRegex(rest, r"(?<![\d.])1(\.\d+)?(?![\d.])")

    def test_not_a_shared_object(self):
        bogus = os.path.join(self.dir, "text.so")
        with open(bogus, "w") as f:
            f.write("this is not an ELF file\n")
        self.run_with(bogus)

    def test_check_mode_also_refuses(self):
        path = os.path.join(self.dir, "server.ini")
        with open(path, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\n[app]\nmodule = %s\n"
                    % (self.port, os.path.join(self.dir, "missing.so")))
        rc, out, err = run_binary(["-t", path])
        self.assertEqual(rc, EX_CONFIG, out + err)


class ReadsConfig(ServerCase):
    config = {
        "server": {"processes": 2, "threads": 2},
        "app": {"module": [example("hello"), test_module("reads_config")]},
        "module:reads_config": {"greeting": "Grüß dich, spindle"},
    }

    def test_greeting_from_section(self):
        for _ in range(4):  # reach both workers most likely
            r = get(self.port, "/greet")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body.decode(), "Grüß dich, spindle")


class ReadsConfigUnset(ServerCase):
    config = default_config(("hello", "tm:reads_config"))

    def test_no_section_means_unset(self):
        r = get(self.port, "/greet")
        self.assertEqual((r.status, r.body), (200, b"(unset)"))


class Preload(unittest.TestCase):
    """preload = on: the master runs each module's preload hook once,
    before forking, and the workers serve on what it built
    (tests/modules/preloads.c); hello, which has no hook, loads as usual."""

    def config(self, preload, **section):
        return {"server": {"processes": 2, "threads": 2},
                "app": {"module": [example("hello"), test_module("preloads")],
                        "preload": preload},
                "module:preloads": section}

    def answer(self, port):
        r = get(port, "/preloaded")
        self.assertEqual(r.status, 200, r)
        _, by, _, calls, _, pid = r.body.decode().split()
        return int(by), int(calls), int(pid)

    def test_the_master_runs_the_hook_once(self):
        with Server(self.config("on")) as s:
            for _ in range(6):
                by, calls, pid = self.answer(s.port)
                self.assertEqual((by, calls), (s.pid, 1))
                self.assertIn(pid, s.workers())
            self.assertEqual(get(s.port, "/").status, 200)
            old = set(s.workers())
            s.reload()  # new workers from the same master: the hook is not run again
            self.assertTrue(wait_until(lambda: not old & set(s.workers()) and
                                       len(s.workers()) == 2, 30.0), s.log()[-2000:])
            self.assertEqual(self.answer(s.port)[:2], (s.pid, 1))

    def test_without_preload_the_hook_is_not_run(self):
        with Server(self.config("off")) as s:
            self.assertEqual(self.answer(s.port)[:2], (0, 0))

    def test_a_failing_hook_stops_the_start_and_the_check(self):
        d = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "server.ini")
        with open(path, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 2\n[app]\nmodule = %s\n"
                    "preload = on\n[module:preloads]\nfail = on\n"
                    % (free_port(), test_module("preloads")))
        for args in ([path], ["-t", path]):
            rc, out, err = run_binary(args, timeout=20)
            self.assertEqual(rc, EX_CONFIG, out + err)
            self.assertIn("preloads.so: module 'preloads': preload failed", out + err)


class ConfigRoutes(ServerCase):
    config = {
        "server": {"processes": 1, "threads": 2},
        "app": {
            "module": [example("hello"), test_module("config_routes")],
            "route": ["GET /cr/one config_routes:cr_one", "* /cr/any config_routes:cr_any"],
        },
    }

    def test_routed_symbol(self):
        r = get(self.port, "/cr/one")
        self.assertEqual((r.status, r.body), (200, b"cr_one"))

    def test_routed_symbol_wrong_method(self):
        r = http(self.port, "POST", "/cr/one", body=b"x")
        self.assertEqual(r.status, 405)
        self.assertIn("GET", r.header("Allow", ""))

    def test_any_method(self):
        for m in ("GET", "POST", "DELETE", "PATCH"):
            r = http(self.port, m, "/cr/any", body=b"" if m != "GET" else None)
            self.assertEqual((r.status, r.body), (200, ("cr_any " + m).encode()))

    def test_module_routes_still_work(self):
        self.assertEqual(get(self.port, "/").body, b"Hello, World!")


class BadConfigRoutes(unittest.TestCase):
    def run_route(self, route):
        d = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "server.ini")
        with open(path, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\n[app]\nmodule = %s\n"
                    "module = %s\nroute = %s\n"
                    % (free_port(), example("hello"), test_module("config_routes"), route))
        rc, out, err = run_binary([path], timeout=20)
        self.assertNotEqual(rc, 0, "started with route %r" % route)
        self.assertIsNotNone(rc, "still running with route %r; stderr:\n%s" % (route, err))
        return err

    def test_missing_symbol(self):
        err = self.run_route("GET /x config_routes:no_such_symbol")
        self.assertIn("no_such_symbol", err)

    def test_unknown_module(self):
        err = self.run_route("GET /x no_such_module:cr_one")
        self.assertIn("no_such_module", err)


class ThirdPartyMiddleware(ServerCase):
    config = {
        "server": {"processes": 1, "threads": 2},
        "app": {"module": [example("hello"), test_module("mw_third_party")],
                "middleware": "tp_header"},
    }

    def test_marks_its_route(self):
        r = get(self.port, "/tp")
        self.assertEqual((r.status, r.body), (200, b"tp"))
        self.assertEqual(r.header("X-Third-Party"), "yes")

    def test_marks_other_modules_routes(self):
        r = get(self.port, "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Third-Party"), "yes")

    def test_marks_error_pages(self):
        r = get(self.port, "/nowhere")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("X-Third-Party"), "yes")


class ThirdPartyMiddlewareNotInChain(ServerCase):
    """Defining middleware does not put it in the chain; server.ini does."""
    config = default_config(("hello", "tm:mw_third_party"), processes=1, threads=2)

    def test_not_applied(self):
        r = get(self.port, "/tp")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("X-Third-Party"))


class BadHeaderRefused(ServerCase):
    config = default_config(("hello", "tm:bad_header"), processes=1, threads=2)

    def test_crlf_in_header_value_refused(self):
        r = get(self.port, "/bad-header")
        self.assertEqual((r.status, r.body), (500, b"refused"))
        self.assertIsNone(r.header("X-Bad"))
        self.assertIsNone(r.header("Injected"))


class UnknownMiddleware(unittest.TestCase):
    def test_unknown_middleware_name_fails_start(self):
        d = tempfile.mkdtemp(prefix="spindle-it-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        path = os.path.join(d, "server.ini")
        with open(path, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\n[app]\nmodule = %s\n"
                    "middleware = no_such_mw\n" % (port, example("hello")))
        rc, out, err = run_binary([path], timeout=20)
        self.assertIsNotNone(rc, "kept running with an unknown middleware; stderr:\n" + err)
        self.assertNotEqual(rc, 0)
        self.assertIn("no_such_mw", err)


if __name__ == "__main__":
    unittest.main()


class ModuleOverwrittenInPlace(unittest.TestCase):
    """Deploying by `cp new.so loaded.so` while serving: the file a worker
    loaded is rewritten in place under it.  Workers run a private copy, so
    the request in flight is answered, no worker dies, and a reload brings
    the new code."""

    def test_cp_over_the_loaded_module(self):
        d = tempfile.mkdtemp(prefix="spindle-deploy-")
        self.addCleanup(shutil.rmtree, d, True)
        loaded = os.path.join(d, "app.so")
        shutil.copyfile(test_module("slow"), loaded)
        sport = free_port()
        cfg = default_config((), processes=1, threads=2, stats="127.0.0.1:%d" % sport)
        cfg["app"]["module"] = [loaded, example("hello")]
        with Server(cfg) as s:
            workers = s.workers()
            c = connect(s.port, 10.0)
            c.sendall(build_request("GET", "/slow?ms=1500", [("Connection", "close")]))
            running = lambda: any(t.get("request", "").startswith("GET /slow")
                                  for w in stats(sport)["workers"] for t in w["threads"])
            self.assertTrue(wait_until(running, WAIT), "the request never ran")
            with open(example("echo"), "rb") as f:
                new = f.read()
            with open(loaded, "r+b") as f:  # what cp does: same inode, truncated, rewritten
                f.truncate(0)
                f.write(new)
            with c:
                data, how = read_until_close(c, 10.0)
            rs = parse_responses(data)
            self.assertEqual([(r.status, r.body) for r in rs], [(200, b"slow 1500 ms")],
                             "the request in flight was lost (%s); log:\n%s" % (how, s.log()))
            self.assertEqual(s.workers(), workers, "a worker died: " + s.log())
            self.assertEqual(get(s.port, "/slow?ms=1").status, 200)
            s.reload(cfg)
            self.assertTrue(wait_until(lambda: get(s.port, "/echo/x").status == 200, WAIT),
                            "the reload did not bring the new module: " + s.log())
