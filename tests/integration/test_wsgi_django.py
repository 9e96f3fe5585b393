"""A Django 3.2 project (Debian's python3-django, tests/wsgi/djsite/) on the
wsgi module: the admin's login page and a real login (CSRF cookie and
token, the session), a form POST refused without its CSRF token, static
files served by nginx beside spindle, through nginx with uwsgi_pass and
with proxy_pass (the shipped conf/nginx/spindle-django*.conf), and threads
running views at once."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
from urllib.parse import urlencode

import spindle_harness
from nginx_harness import Nginx, have_nginx
from spindle_harness import BUILD, WAIT, Conn, Server, cmdline, get, http, wait_until

# Each worker and the spooler import Django before the server answers:
# seconds under ASan on a busy machine, so more room than the default.
spindle_harness.START_TIMEOUT = 40.0

HERE = os.path.dirname(os.path.abspath(__file__))
SITE = os.path.normpath(os.path.join(HERE, "..", "wsgi", "djsite"))
WSGI = os.path.join(BUILD, "app", "wsgi.so")
DEBIAN_PYTHON = "/usr/bin/python3"  # the interpreter whose packages hold Django
PASSWORD = "spindle-test-pw-1"


def have_django():
    return os.path.exists("/usr/lib/python3/dist-packages/django")


def manage(env, *args):
    p = subprocess.run([DEBIAN_PYTHON, "manage.py"] + list(args), cwd=SITE, env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=120)
    if p.returncode != 0:
        raise AssertionError("manage.py %s failed:\n%s" % (" ".join(args), p.stdout.decode()))


class Client:
    """Cookies kept across requests, over one keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}

    def request(self, method, path, form=None, headers=()):
        hs = list(headers)
        if self.cookies:
            hs.append(("Cookie", "; ".join("%s=%s" % kv for kv in self.cookies.items())))
        body = None
        if form is not None:
            body = urlencode(form).encode()
            hs.append(("Content-Type", "application/x-www-form-urlencoded"))
        r = http(self.port, method, path, headers=hs, body=body, timeout=20)
        for c in r.header_all("Set-Cookie"):
            name, value = c.split(";", 1)[0].split("=", 1)
            self.cookies[name.strip()] = value.strip()
        return r


def csrf_token(html):
    m = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1).decode()


SHARED = {}


def setUpModule():
    """One migrated database, superuser and static folder, and one server
    (HTTP and a uwsgi unix socket) for every front below."""
    if not have_django():
        return
    d = tempfile.mkdtemp(prefix="spindle-django-")
    unittest.addModuleCleanup(shutil.rmtree, d, True)
    static = os.path.join(d, "static")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="djsite.settings",
               DJSITE_DB=os.path.join(d, "db.sqlite3"), DJSITE_STATIC=static,
               DJANGO_SUPERUSER_PASSWORD=PASSWORD, PYTHONDONTWRITEBYTECODE="1")
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "createsuperuser", "--noinput", "--username", "admin", "--email",
           "admin@example.test")
    ticks = os.path.join(d, "ticks")
    os.mkdir(os.path.join(d, "spool"))
    server = Server("", probe="/whoami/", wait_workers=False)
    unittest.addModuleCleanup(stop_server, server)
    sock = os.path.join(server.dir, "uwsgi.sock")
    server.config = {
        "server": {"listen": ["127.0.0.1:%d" % server.port, "uwsgi://unix:" + sock],
                   "processes": 2, "threads": 4, "trusted-proxies": "127.0.0.1"},
        "app": {"module": WSGI},
        "module:wsgi": {"app": "djsite.wsgi:application", "pythonpath": SITE,
                        "env": ["DJANGO_SETTINGS_MODULE=djsite.settings",
                                "DJSITE_DB=" + env["DJSITE_DB"], "DJSITE_STATIC=" + static,
                                "DJSITE_TICKS=" + ticks]},
        "module:tasks": {},
        "tasks": {"spool": os.path.join(d, "spool"), "task-threads": 2},
        # every second (a leading seconds field): a Python task fired by cron
        "cron": "* * * * * * shop.jobs:tick\n"}
    server.start()
    SHARED.update(server=server, sock=sock, static=static, ticks=ticks)


def stop_server(server):
    report = server.cleanup()
    if report:
        raise AssertionError("sanitizer report in the server log:\n" + report)


@unittest.skipUnless(have_django(), "python3-django is not installed")
class DjangoBase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = SHARED["server"]
        cls.sock = SHARED["sock"]
        cls.static = SHARED["static"]

    port = None  # where the client talks: spindle itself, or an nginx

    def client(self):
        return Client(self.port)

    def test_admin_login_page(self):
        r = self.client().request("GET", "/admin/login/?next=/admin/")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"csrfmiddlewaretoken", r.body)
        self.assertIn(b"Django administration", r.body)
        self.assertTrue(any(c.startswith("csrftoken=") for c in r.header_all("Set-Cookie")))

    def test_admin_login_with_csrf_and_session(self):
        c = self.client()
        token = csrf_token(c.request("GET", "/admin/login/?next=/admin/").body)
        r = c.request("POST", "/admin/login/?next=/admin/", form={
            "csrfmiddlewaretoken": token, "username": "admin", "password": PASSWORD,
            "next": "/admin/"})
        self.assertEqual(r.status, 302, r)
        self.assertTrue(r.header("Location").endswith("/admin/"), r.header("Location"))
        self.assertIn("sessionid", c.cookies)
        r = c.request("GET", "/admin/")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"Site administration", r.body)

    def test_form_post_needs_its_csrf_token(self):
        c = self.client()
        r = c.request("GET", "/form/")
        self.assertEqual(r.status, 200, r)
        token = csrf_token(r.body)
        r = c.request("POST", "/form/", form={"name": "no token"})
        self.assertEqual(r.status, 403, r)
        r = c.request("POST", "/form/", form={"name": "spindle", "csrfmiddlewaretoken": token})
        self.assertEqual((r.status, r.body), (200, b"Hello, spindle!"))


class Direct(DjangoBase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = cls.server.port

    def test_views_run_at_once_on_threads(self):
        results = []

        def one():
            r = get(self.port, "/slow/", timeout=20)
            results.append(json.loads(r.body) if r.status == 200 else r)

        ts = [threading.Thread(target=one) for _ in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        self.assertEqual(len(results), 8, results)
        self.assertGreater(max(r["max_inflight"] for r in results), 1)

    def poll(self, location, want=("done", "failed")):
        last = {}
        for _ in range(300):
            r = get(self.port, location)
            self.assertEqual(r.status, 200, r)
            last = json.loads(r.body)
            if last["state"] in want:
                return last
            time.sleep(0.05)
        self.fail("task never reached %s: %r" % (want, last))

    def submit(self, query):
        r = get(self.port, "/submit/?" + query)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.header("Location"), "/_tasks/" + json.loads(r.body)["id"])
        return r.header("Location")

    def test_view_submits_a_python_task_polled_to_done(self):
        location = self.submit("numbers=4,5,6&sleep=0.3")
        st = self.poll(location)
        self.assertEqual(st["state"], "done", st)
        self.assertEqual(st["name"], "shop.jobs:add")
        self.assertEqual(st["result"]["sum"], 15)  # JSON results come back as JSON

    def test_spooled_python_task(self):
        st = self.poll(self.submit("numbers=1,1&spool=1"))
        self.assertEqual(st["state"], "done", st)
        result = st["result"]
        self.assertEqual(result["sum"], 2)
        self.assertIn("spooler", cmdline(result["pid"]),
                      "a spooled task runs in a spooler, not a worker")

    def test_failing_python_task(self):
        st = self.poll(self.submit("fail=1"))
        self.assertEqual(st["state"], "failed", st)
        self.assertIn("ValueError: this task fails on purpose", st["error"])
        self.assertTrue(wait_until(lambda: re.search(
            r"task shop.jobs:fail \w+: ValueError: this task fails", self.server.log()), 5))

    def test_cron_fires_a_python_task(self):
        ticks = SHARED["ticks"]
        self.assertTrue(wait_until(lambda: os.path.exists(ticks), WAIT),
                        "no cron tick; log:\n" + self.server.log()[-3000:])
        m = wait_until(lambda: re.search(r"cron: '[^']*shop.jobs:tick' due at \S+: task (\w+)",
                                         self.server.log()), 5.0)
        self.assertTrue(m)

    def test_forwarded_scheme_from_a_trusted_proxy(self):
        r = get(self.port, "/whoami/", headers=[("X-Forwarded-Proto", "https")])
        self.assertEqual(json.loads(r.body)["scheme"], "https")


@unittest.skipUnless(have_nginx(), "nginx is not installed")
class BehindNginxUwsgi(DjangoBase):
    site = "spindle-django.conf"

    @classmethod
    def subs(cls):
        return [("unix:/run/spindle/uwsgi.sock", "unix:" + cls.sock),
                ("/srv/mysite/static/", cls.static + "/")]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.nginx = Nginx(cls.site, cls.subs())
        cls.addClassCleanup(cls.nginx.cleanup)
        cls.nginx.start()
        cls.port = cls.nginx.port

    def test_static_files_from_nginx(self):
        path = "admin/css/base.css"
        with open(os.path.join(self.static, path), "rb") as f:
            want = f.read()
        with Conn(self.port) as c:
            r = c.request("GET", "/static/" + path)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, want)
        # Django (DEBUG off) serves no static file: the 200 was nginx's.
        self.assertEqual(get(self.server.port, "/static/" + path).status, 404)

    def test_whoami_through_nginx(self):
        r = get(self.port, "/whoami/")
        self.assertEqual(r.status, 200, r)
        me = json.loads(r.body)
        self.assertEqual((me["path"], me["scheme"]), ("/whoami/", "http"))
        self.assertEqual(me["host"], "127.0.0.1")


class BehindNginxProxy(BehindNginxUwsgi):
    site = "spindle-django-http.conf"

    @classmethod
    def subs(cls):
        return [("server 127.0.0.1:8000;", "server 127.0.0.1:%d;" % cls.server.port),
                ("/srv/mysite/static/", cls.static + "/")]


del DjangoBase  # its tests run in the subclasses, each with its front

if __name__ == "__main__":
    unittest.main()
