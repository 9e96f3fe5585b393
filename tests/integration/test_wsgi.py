"""The wsgi module (app/wsgi/): PEP 3333 from the server's side, with a
hand-written application wrapped in wsgiref.validate (tests/wsgi/pep3333.py),
a Flask application (tests/wsgi/flaskapp.py), threads running Python
together, and an application that does not import."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import unittest

from spindle_harness import (BIN, BUILD, EX_CONFIG, WAIT, Conn, Server, _die_with_parent,
                             build_request, connect, free_port, get, http, read_until_close,
                             run_binary, wait_until, write_temp_ini)

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.normpath(os.path.join(HERE, "..", "wsgi"))
WSGI = os.path.join(BUILD, "app", "wsgi.so")


def wsgi_config(app, env=(), threads=4, processes=1, server=None, module=None):
    srv = {"processes": processes, "threads": threads}
    srv.update(server or {})
    mod = {"app": app, "pythonpath": APPS, "env": list(env)}
    mod.update(module or {})
    return {"server": srv, "app": {"module": WSGI}, "module:wsgi": mod}


def log_lines(server, pattern):
    return [l for l in server.log().splitlines() if re.search(pattern, l)]


def dechunk(data):
    """The body of a chunked stream and whether it had its last chunk."""
    body, pos = b"", 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return body, False
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return body, data[end + 2:end + 4] == b"\r\n"
        if len(data) < end + 2 + size:
            return body + data[end + 2:], False
        body += data[end + 2:end + 2 + size]
        pos = end + 4 + size


def most_in_flight(port, n=8):
    """n requests for /sleep at once (each waits in Python for another to
    join it, tests/wsgi/overlap.py): the most of them the application saw
    in flight together."""
    results = []

    def one():
        r = get(port, "/sleep", timeout=20)
        results.append(json.loads(r.body) if r.status == 200 else r)
    ts = [threading.Thread(target=one) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert len(results) == n and all(isinstance(r, dict) for r in results), results
    return max(r["max_inflight"] for r in results)


class Pep3333(unittest.TestCase):
    """One server for the class; the application's state files live in
    cls.state (PEP3333_STATE)."""

    @classmethod
    def setUpClass(cls):
        cls.state = tempfile.mkdtemp(prefix="spindle-wsgi-")
        cls.addClassCleanup(shutil.rmtree, cls.state, True)
        cls.file = os.path.join(cls.state, "payload.bin")
        with open(cls.file, "wb") as f:
            f.write(os.urandom(300 * 1024 + 17))
        cls.server = Server(wsgi_config(
            "pep3333:application", env=["PEP3333_STATE=" + cls.state, "PEP3333_FILE=" + cls.file],
            server={"body-buffer-size": "64K", "limit-body": "8M"}), probe="/environ")
        cls.addClassCleanup(cls._stop)
        cls.server.start()
        cls.port = cls.server.port

    @classmethod
    def _stop(cls):
        report = cls.server.cleanup()
        if report:
            raise AssertionError("sanitizer report in the server log:\n" + report)

    def state_lines(self, name):
        try:
            with open(os.path.join(self.state, name)) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def json_get(self, path, **kw):
        r = get(self.port, path, **kw)
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body)

    # ---- environ ------------------------------------------------------------
    def test_environ_keys(self):
        env = self.json_get("/environ?a=1&b=%20", headers=[
            ("Host", "example.test:8080"), ("X-Custom-Thing", "v1"), ("Accept", "a"),
            ("Accept", "b"), ("Cookie", "x=1"), ("Cookie", "y=2")])
        for key in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
                    "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT"):
            self.assertIn(key, env)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["SCRIPT_NAME"], "")
        self.assertEqual(env["PATH_INFO"], "/environ")
        self.assertEqual(env["QUERY_STRING"], "a=1&b=%20")
        self.assertEqual(env["REQUEST_URI"], "/environ?a=1&b=%20")
        self.assertEqual((env["SERVER_NAME"], env["SERVER_PORT"]), ("example.test", "8080"))
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertTrue(env["REMOTE_PORT"].isdigit())
        self.assertEqual(env["HTTP_X_CUSTOM_THING"], "v1")
        self.assertEqual(env["HTTP_ACCEPT"], "a, b")
        self.assertEqual(env["HTTP_COOKIE"], "x=1; y=2")
        self.assertEqual(env["wsgi.version"], [1, 0])
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertIs(env["wsgi.multithread"], True)
        self.assertIs(env["wsgi.multiprocess"], True)
        self.assertIs(env["wsgi.run_once"], False)
        self.assertTrue(env["has_file_wrapper"])
        self.assertNotIn("CONTENT_LENGTH", env)

    def test_environ_http10_no_host(self):
        r = http(self.port, "GET", "/environ", version="HTTP/1.0", host=None)
        env = json.loads(r.body)
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.0")
        self.assertEqual(env["SERVER_PORT"], "80")
        self.assertTrue(env["SERVER_NAME"])

    def test_path_info_is_decoded_latin1(self):
        # %C3%A9 is UTF-8 "é": PEP 3333 gives its two bytes as two Latin-1 chars.
        env = self.json_get("/%65nviron")
        self.assertEqual(env["PATH_INFO"], "/environ")
        r = get(self.port, "/caf%C3%A9")
        self.assertEqual(r.status, 404)
        self.assertIn("/caf\u00c3\u00a9".encode("utf-8"), r.body)

    def test_content_type_and_length(self):
        r = http(self.port, "POST", "/environ", headers=[("Content-Type", "text/x-thing")],
                 body=b"12345")
        env = json.loads(r.body)
        self.assertEqual(env["CONTENT_TYPE"], "text/x-thing")
        self.assertEqual(env["CONTENT_LENGTH"], "5")
        self.assertNotIn("HTTP_CONTENT_TYPE", env)
        self.assertNotIn("HTTP_CONTENT_LENGTH", env)

    def test_url_scheme_from_trusted_forwarding_is_not_taken_from_anyone(self):
        env = self.json_get("/environ", headers=[("X-Forwarded-Proto", "https")])
        self.assertEqual(env["wsgi.url_scheme"], "http")  # 127.0.0.1 is not trusted here

    # ---- wsgi.input -----------------------------------------------------------
    def body_check(self, how, data):
        r = http(self.port, "POST", "/body?" + how, body=data, timeout=30)
        self.assertEqual(r.status, 200, r)
        got = json.loads(r.body)
        self.assertEqual(got["size"], len(data), how)
        self.assertEqual(got["sha256"], hashlib.sha256(data).hexdigest(), how)
        return got

    def test_input_every_way_small_and_spilled(self):
        line = b"x" * 250 + b"\n"
        small = line * 20
        spilled = (line * 12000) + b"no newline at the end"  # 3 MB > body-buffer-size 64K
        for data in (small, spilled):
            for how in ("read", "chunks", "readline", "limit", "iter", "readlines"):
                got = self.body_check(how, data)
                if how in ("readline", "iter", "readlines"):
                    self.assertEqual(got["lines"], data.count(b"\n") + (not data.endswith(b"\n")))

    def test_input_chunked_request_body(self):
        body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        with Conn(self.port) as c:
            c.send(build_request("POST", "/body?chunks", [("Transfer-Encoding", "chunked")]) +
                   body)
            r = c.read_response()
        self.assertEqual(json.loads(r.body)["sha256"], hashlib.sha256(b"hello world").hexdigest())

    # ---- responses ------------------------------------------------------------
    def test_write_callable_streams(self):
        r = get(self.port, "/write")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"first, second, then the iterable")
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")

    def test_generator_is_streamed(self):
        r = get(self.port, "/stream")
        self.assertEqual(r.body, b"".join(b"part %d\n" % i for i in range(5)))
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")

    def test_list_with_length_is_framed_by_it(self):
        r = get(self.port, "/environ")
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        self.assertIsNone(r.header("Transfer-Encoding"))

    def test_content_length_from_app_is_honoured(self):
        with Conn(self.port) as c:
            r1 = c.request("GET", "/length")
            r2 = c.request("GET", "/environ")  # the connection is still in step
        self.assertEqual((r1.status, r1.body, r1.header("Content-Length")), (200, b"12345", "5"))
        self.assertEqual(r2.status, 200)

    def test_close_is_called(self):
        tag = "ok%d" % os.getpid()
        self.assertEqual(get(self.port, "/close?" + tag).body, b"abc")
        self.assertTrue(wait_until(lambda: tag in self.state_lines("closed"), WAIT))

    def test_close_is_called_when_the_iterable_fails(self):
        tag = "fail%d" % os.getpid()
        data, _ = read_until_close_req(self.port, "/close?" + tag)
        body, complete = dechunk(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body, b"a")
        self.assertFalse(complete, "a failed stream must not end like a whole one")
        self.assertTrue(wait_until(lambda: tag in self.state_lines("closed"), WAIT))
        self.assertTrue(wait_until(lambda: log_lines(self.server, "failing mid-body"), WAIT))

    def test_close_is_called_when_the_client_is_gone(self):
        tag = "gone%d" % os.getpid()
        with connect(self.port) as s:
            s.sendall(build_request("GET", "/close?" + tag))
        self.assertTrue(wait_until(lambda: tag in self.state_lines("closed"), WAIT))

    def test_exc_info_before_headers_replaces_the_status(self):
        r = get(self.port, "/exc_info")
        self.assertEqual((r.status, r.body), (503, b"replaced by exc_info"))

    def test_exc_info_after_headers_reraises_and_cuts(self):
        data, _ = read_until_close_req(self.port, "/exc_info_late")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        body, complete = dechunk(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body, b"headers are out")
        self.assertFalse(complete)
        self.assertTrue(wait_until(lambda: "yes" in self.state_lines("reraised"), WAIT))

    def test_exception_is_500_with_traceback_in_log(self):
        r = get(self.port, "/error")
        self.assertEqual(r.status, 500)
        self.assertNotIn(b"ZeroDivisionError", r.body)  # never shown to the client
        self.assertTrue(wait_until(
            lambda: log_lines(self.server, r"GET /error: ZeroDivisionError: the application"), 5))
        self.assertTrue(log_lines(self.server, r"GET /error: Traceback"))
        self.assertEqual(get(self.port, "/environ").status, 200)

    def test_bad_header_is_refused_not_sent(self):
        r = get(self.port, "/bad_header")
        self.assertEqual(r.status, 500)
        self.assertIsNone(r.header("Injected"))
        self.assertIsNone(r.header("X-Bad"))

    def test_print_and_wsgi_errors_reach_the_log(self):
        get(self.port, "/print?marker%d" % os.getpid())
        mark = "marker%d" % os.getpid()
        self.assertTrue(wait_until(
            lambda: log_lines(self.server, r"\[info\].*python: printed by the application: " +
                              mark), 5))
        self.assertTrue(log_lines(self.server, r"\[error\].*wsgi.errors: to wsgi.errors: " + mark))

    # ---- wsgi.file_wrapper -----------------------------------------------------
    def file_bytes(self):
        with open(self.file, "rb") as f:
            return f.read()

    def test_file_wrapper_real_file_is_not_read_by_python(self):
        before = len(self.state_lines("file_reads"))
        r = get(self.port, "/file/plain", timeout=10)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, self.file_bytes())
        self.assertEqual(r.header("Content-Length"), str(len(r.body)))
        self.assertEqual(len(self.state_lines("file_reads")), before, "Python read the file")

    def test_file_wrapper_from_an_offset_is_iterated(self):
        r = get(self.port, "/file/offset", timeout=10)
        self.assertEqual(r.body, self.file_bytes()[10:])
        self.assertTrue(self.state_lines("file_reads"))

    def test_file_wrapper_without_fileno_is_iterated(self):
        r = get(self.port, "/file/bytesio", timeout=10)
        self.assertEqual(r.body, self.file_bytes())


def read_until_close_req(port, path):
    with connect(port) as s:
        s.sendall(build_request("GET", path, [("Connection", "close")]))
        return read_until_close(s, 5.0)


class Threads(unittest.TestCase):

    def test_requests_run_python_at_once(self):
        """threads = 4, 8 requests that each wait in Python for another to
        join them: the application itself sees more than one of them in
        flight, and no more than the threads."""
        state = tempfile.mkdtemp(prefix="spindle-wsgi-")
        self.addCleanup(shutil.rmtree, state, True)
        with Server(wsgi_config("pep3333:application", env=["PEP3333_STATE=" + state],
                                threads=4), probe="/environ") as s:
            seen = most_in_flight(s.port)
            self.assertGreater(seen, 1, "no two requests ran Python at once")
            self.assertLessEqual(seen, 4)


class Mount(unittest.TestCase):

    def test_script_name_and_path_info_split_at_mount(self):
        state = tempfile.mkdtemp(prefix="spindle-wsgi-")
        self.addCleanup(shutil.rmtree, state, True)
        with Server(wsgi_config("pep3333:application", env=["PEP3333_STATE=" + state],
                                module={"mount": "/app/"}), probe="/app/environ") as s:
            env = json.loads(get(s.port, "/app/environ").body)
            self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("/app", "/environ"))
            r = get(s.port, "/app")
            self.assertEqual(r.status, 404)  # the application's own 404 for PATH_INFO ""
            self.assertIn(b"no such page", r.body)
            self.assertEqual(get(s.port, "/application/environ").status, 404)
            self.assertNotIn(b"no such page", get(s.port, "/other").body)


class Flask(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not os.path.exists("/usr/lib/python3/dist-packages/flask"):
            raise unittest.SkipTest("python3-flask is not installed")
        cls.server = Server(wsgi_config("flaskapp:app", server={"body-buffer-size": "64K"}))
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.port = cls.server.port

    def test_hello(self):
        r = get(self.port, "/")
        self.assertEqual((r.status, r.body), (200, b"Hello from Flask"))

    def test_streaming_response(self):
        r = get(self.port, "/stream?n=50")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Transfer-Encoding"), "chunked")
        self.assertEqual(r.body, b"".join(b"row %d of 50\n" % i for i in range(50)))

    def test_file_upload(self):
        data = os.urandom(200 * 1024) + b"\r\n--not-the-boundary\r\n"
        boundary = "spindleboundary%d" % os.getpid()
        body = ("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (boundary, boundary)).encode()
        body += data + ("\r\n--%s--\r\n" % boundary).encode()
        r = http(self.port, "POST", "/upload", headers=[
            ("Content-Type", "multipart/form-data; boundary=" + boundary)], body=body, timeout=20)
        self.assertEqual(r.status, 200, r)
        got = json.loads(r.body)
        self.assertEqual(got, {"filename": "x.bin", "size": len(data), "note": "hello",
                               "sha256": hashlib.sha256(data).hexdigest()})


class StartFailures(unittest.TestCase):

    def run_config(self, mod):
        d = tempfile.mkdtemp(prefix="spindle-wsgi-")
        self.addCleanup(shutil.rmtree, d, True)
        ini = ("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\nthreads = 2\n"
               "[app]\nmodule = %s\n[module:wsgi]\n%s" % (free_port(), WSGI, mod))
        return run_binary([write_temp_ini(ini, d)], timeout=30)

    def test_import_error_exits_78_with_traceback(self):
        rc, out, err = self.run_config("app = no_such_package.wsgi:application\n")
        log = out + err
        self.assertEqual(rc, EX_CONFIG, log)
        self.assertIn("ModuleNotFoundError: No module named 'no_such_package'", log)
        self.assertIn("app = no_such_package.wsgi:application", log)

    def test_error_inside_the_app_module_logs_its_traceback(self):
        rc, out, err = self.run_config("app = broken:application\npythonpath = %s\n" % APPS)
        log = out + err
        self.assertEqual(rc, EX_CONFIG, log)
        self.assertIn("Traceback", log)
        self.assertIn('broken.py", line 3, in <module>', log)
        self.assertIn("No module named 'helper_that_is_not_there'", log)
        self.assertIn("app = broken:application", log)

    def test_missing_callable_exits_78(self):
        rc, out, err = self.run_config("app = flaskapp:nothing\npythonpath = %s\n" % APPS)
        self.assertEqual(rc, EX_CONFIG, out + err)
        self.assertIn("has no attribute 'nothing'", out + err)

    def test_unknown_key_is_refused(self):
        rc, out, err = self.run_config("app = flaskapp:app\npythonpth = .\n")
        self.assertEqual(rc, EX_CONFIG, out + err)
        self.assertIn("pythonpth", out + err)
        self.assertIn("pythonpath", out + err)



class Virtualenv(unittest.TestCase):

    def test_home_runs_the_virtualenv(self):
        """home = a venv: its site-packages are on the path, Debian's are
        not (include-system-site-packages = false)."""
        cfg = {"server": {"processes": 1, "threads": 2}, "app": {"module": WSGI},
               "module:wsgi": {"app": "venvapp:application", "home": "venv"}}
        s = Server(cfg)
        self.addCleanup(s.cleanup)
        venv = os.path.join(s.dir, "venv")  # beside server.ini: home is relative to it
        p = subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if p.returncode != 0:
            self.skipTest("no venv module in Debian's Python: %s" % p.stdout.decode()[-300:])
        site = os.path.join(venv, "lib", "python3.11", "site-packages")
        with open(os.path.join(site, "venvapp.py"), "w") as f:
            f.write(VENV_APP)
        with s:
            got = json.loads(get(s.port, "/").body)
        self.assertEqual(os.path.realpath(got["prefix"]), os.path.realpath(venv))
        self.assertFalse(got["flask"], "Debian's dist-packages leaked into the venv")


VENV_APP = '''
import json, sys
def application(environ, start_response):
    try:
        import flask  # noqa: F401  (Debian's, outside the venv)
        flask_seen = True
    except ImportError:
        flask_seen = False
    body = json.dumps({"prefix": sys.prefix, "flask": flask_seen}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


class Reload(unittest.TestCase):

    def test_hup_reimports_the_application(self):
        d = tempfile.mkdtemp(prefix="spindle-wsgi-reload-")
        self.addCleanup(shutil.rmtree, d, True)
        app = os.path.join(d, "reloadapp.py")

        def write(version):
            # (a different size too: Python trusts a .pyc whose source has
            # the same size and mtime second, and both writes share a second)
            with open(app, "w") as f:
                f.write("def application(environ, start_response):\n"
                        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                        "    return [b'%s']\n" % version)

        write("version 1")
        with Server(wsgi_config("reloadapp:application", processes=2,
                                module={"pythonpath": d})) as s:
            self.assertEqual(get(s.port, "/").body, b"version 1")
            old = set(s.workers())
            write("version two")
            s.reload()
            self.assertTrue(wait_until(lambda: len(set(s.workers()) - old) == 2 and
                                       not old & set(s.workers()), 20.0), s.log()[-2000:])
            self.assertEqual(get(s.port, "/").body, b"version two")


class Harakiri(unittest.TestCase):

    def test_harakiri_logs_the_python_traceback_of_the_stuck_thread(self):
        """A view that never returns: harakiri replaces the worker, and the
        log shows where in Python the thread was (tests/wsgi/stuck.py)."""
        cfg = wsgi_config("stuck:application", threads=2,
                          server={"harakiri": "1s", "harakiri-mercy": "2s"})
        with Server(cfg) as s:
            old = set(s.workers())
            with Conn(s.port) as c:
                c.send(build_request("GET", "/stuck"))
                self.assertTrue(wait_until(lambda: log_lines(s, r"wsgi: harakiri: .*in compute_forever"),
                                           30.0), s.log()[-3000:])
            self.assertTrue(log_lines(s, r"wsgi: harakiri: thread \d+ \(GET /stuck\) is here"),
                            s.log()[-3000:])
            self.assertTrue(log_lines(s, r"wsgi: harakiri: .*in application"), s.log()[-3000:])
            # The replacement serves.
            self.assertTrue(wait_until(lambda: set(s.workers()) - old, 30.0), s.log()[-3000:])
            self.assertEqual(get(s.port, "/").body, b"ok")


class Preload(unittest.TestCase):
    """preload = on: the master imports the application once, before it
    forks; the workers inherit it and serve (tests/wsgi/preloaded.py)."""

    def config(self, **server):
        d = tempfile.mkdtemp(prefix="spindle-wsgi-preload-")
        self.addCleanup(shutil.rmtree, d, True)
        cfg = wsgi_config("preloaded:application", processes=2, threads=4, server=server)
        cfg["app"]["preload"] = "on"
        cfg["module:tasks"] = {}
        cfg["tasks"] = {"task-threads": 2}
        return cfg

    def pids(self, port):
        r = get(port, "/pids")
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body)

    def test_imported_once_in_the_master_and_served_by_the_workers(self):
        with Server(self.config(), probe="/pids") as s:
            self.assertTrue(log_lines(s, r"preload: 1 module\(s\) loaded in the master"),
                            s.log()[-2000:])
            seen = [self.pids(s.port) for _ in range(20)]
            self.assertEqual({p["imported_by"] for p in seen}, {s.pid})
            self.assertTrue({p["served_by"] for p in seen} <= set(s.workers()), seen)

            # The workers' threads run Python at once (each has its own
            # thread state; the GIL the fork copied was let go).
            self.assertGreater(most_in_flight(s.port), 1)

            # A child process from a request: the master's fork handlers
            # stay out of the workers' own forks.
            r = get(s.port, "/subprocess", timeout=20)
            self.assertEqual((r.status, json.loads(r.body)), (200, {"stdout": "from a child"}))

    def test_a_task_defined_at_import_runs_in_a_worker(self):
        with Server(self.config(), probe="/pids") as s:
            r = get(s.port, "/task")
            self.assertEqual(r.status, 202, r)
            location = r.header("Location")

            def done():
                st = json.loads(get(s.port, location).body)
                return st if st.get("state") in ("done", "failed") else None
            st = wait_until(done, 30.0)
            self.assertTrue(st, s.log()[-3000:])
            self.assertEqual(st["state"], "done", st)
            self.assertEqual(st["result"]["n"], 42, st)
            self.assertIn(st["result"]["pid"], s.workers())

    def test_hup_forks_new_workers_from_the_preloaded_master(self):
        with Server(self.config(), probe="/pids") as s:
            old = set(s.workers())
            s.reload()
            self.assertTrue(wait_until(lambda: not old & set(s.workers()) and
                                       len(s.workers()) == 2, 30.0), s.log()[-2000:])
            p = self.pids(s.port)
            self.assertEqual(p["imported_by"], s.pid)
            self.assertIn(p["served_by"], s.workers())

    def test_import_error_stops_the_master_with_78(self):
        d = tempfile.mkdtemp(prefix="spindle-wsgi-")
        self.addCleanup(shutil.rmtree, d, True)
        ini = write_temp_ini("[server]\nlisten = 127.0.0.1:%d\nprocesses = 2\n"
                             "[app]\nmodule = %s\npreload = on\n[module:wsgi]\n"
                             "app = broken:application\npythonpath = %s\n"
                             % (free_port(), WSGI, APPS), d)
        for args in ([ini], ["-t", ini]):
            rc, out, err = run_binary(args, timeout=30)
            log = out + err
            self.assertEqual(rc, EX_CONFIG, log)
            self.assertIn('broken.py", line 3, in <module>', log)
            self.assertIn("No module named 'helper_that_is_not_there'", log)
        self.assertIn("preload failed", log)


class DevMode(unittest.TestCase):

    def test_spindle_dev_reloads_on_a_py_save(self):
        """spindle dev serves the ini's folder; saving a .py there (an
        editor's write beside and rename over) reloads the workers."""
        d = tempfile.mkdtemp(prefix="spindle-wsgi-dev-")
        self.addCleanup(shutil.rmtree, d, True)
        port = free_port()
        with open(os.path.join(d, "server.ini"), "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\nthreads = 2\n"
                    "[app]\nmodule = %s\n[module:wsgi]\napp = devapp:application\n"
                    "pythonpath = .\n" % (port, WSGI))
        app = os.path.join(d, "devapp.py")

        def save(text):
            with open(app + ".swp", "w") as f:
                f.write("def application(environ, start_response):\n"
                        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                        "    return [%r]\n" % text.encode())
            os.rename(app + ".swp", app)

        def body():
            try:
                return get(port, "/").body
            except OSError:
                return None

        save("before the edit")
        log = open(os.path.join(d, "dev.log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen([BIN, "dev", "server.ini"], cwd=d, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_die_with_parent)

        def kill():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.addCleanup(kill)

        def output():
            with open(os.path.join(d, "dev.log"), errors="replace") as f:
                return f.read()
        self.assertTrue(wait_until(lambda: body() == b"before the edit", 30.0), output())
        save("after the edit, longer")
        self.assertTrue(wait_until(lambda: body() == b"after the edit, longer", 60.0), output())
        self.assertIn("devapp.py changed", output())


if __name__ == "__main__":
    unittest.main()
