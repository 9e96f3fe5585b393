"""The SDK helpers of ABI 1.6 through the real binary, with the test module
tests/modules/sdk_helpers.c: JSON written by the writer, query strings and
urlencoded forms decoded (repeated keys, '+', %XX, a bad escape), cookies
read and set, a Content-Type the handler chose kept, writer misuse answered
500, typed settings read with the core's words (and refused at start and by
-t with file:line, exit 78), and a task result set as JSON shown as JSON in
/_tasks/ID."""

import json
import shutil
import tempfile
import time
import unittest
from urllib.parse import urlencode

from spindle_harness import (EX_CONFIG, ServerCase, example, free_port, get, http, run_binary,
                             test_module, write_temp_ini)

POLL_LIMIT = 30.0


def config(module_conf):
    return {"server": {"processes": 2, "threads": 3},
            "app": {"module": [example("hello"), test_module("sdk_helpers")]},
            "tasks": {},
            "module:tasks": {},
            "module:sdk_helpers": module_conf}


class Helpers(ServerCase):
    config = config({"loud": "On", "max-body": "8k", "pause": "250ms", "retries": "3"})

    def get_json(self, path, **kw):
        r = get(self.port, path, **kw)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        return json.loads(r.body)

    def test_settings_with_the_cores_words_and_the_server_shape(self):
        j = self.get_json("/sdk/info")
        self.assertEqual(j["loud"], True)  # "On", as server.ini's own switches
        self.assertEqual(j["max_body"], 8192)
        self.assertEqual(j["pause_ms"], 250)
        self.assertEqual((j["threads"], j["processes"]), (3, 2))
        self.assertEqual(j["ratio"], 0.1)
        self.assertIsNone(j["q"])
        self.assertEqual(j["pairs"], [])

    def test_query_pairs_decoded_with_repeats(self):
        j = self.get_json("/sdk/info?q=a+b%21&tag=x&tag=y%20z&tag=%zz&first+name=Ada&flag")
        self.assertEqual(j["q"], "a b!")
        self.assertEqual(j["tags"], ["x", "y z", "%zz"])
        self.assertEqual(j["pairs"], [["q", "a b!"], ["tag", "x"], ["tag", "y z"],
                                      ["tag", "%zz"], ["first name", "Ada"], ["flag", ""]])

    def test_a_urlencoded_form(self):
        body = urlencode([("name", "Jürgen & Co"), ("color", "red"), ("color", "dark blue")])
        r = http(self.port, "POST", "/sdk/form?name=query", body=body.encode(),
                 headers=[("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")])
        self.assertEqual(r.status, 200, r)
        j = json.loads(r.body)
        self.assertEqual(j["name"], "Jürgen & Co")
        self.assertEqual(j["colors"], ["red", "dark blue"])
        self.assertEqual(len(j["pairs"]), 3)
        self.assertEqual(j["query"], "query")

    def test_a_body_that_is_not_a_form_has_no_fields(self):
        r = http(self.port, "POST", "/sdk/form", body=b'{"name":"x"}',
                 headers=[("Content-Type", "application/json")])
        j = json.loads(r.body)
        self.assertIsNone(j["name"])
        self.assertEqual(j["pairs"], [])

    def test_a_form_over_body_buffer_size_is_read_from_its_temp_file(self):
        # Far past the default body-buffer-size: the body spills to a temp
        # file and sp_form maps it.
        filler = "x" * (200 * 1024)
        body = urlencode([("pad", filler), ("name", "after the padding")]).encode()
        r = http(self.port, "POST", "/sdk/form", body=body,
                 headers=[("Content-Type", "application/x-www-form-urlencoded")], timeout=20)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body)["name"], "after the padding")

    def test_cookies_read_and_set(self):
        r = get(self.port, "/sdk/cookie",
                headers=[("Cookie", "a=1; sid=abc123"), ("Cookie", 'theme="dark"')])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body), {"sid": "abc123", "theme": "dark"})
        lines = r.header_all("Set-Cookie")
        self.assertEqual(len(lines), 2, lines)
        seen, old = lines
        self.assertRegex(seen, r"^seen=1; Path=/; Max-Age=60; Expires=\w{3}, \d\d \w{3} \d{4} "
                               r"\d\d:\d\d:\d\d GMT; HttpOnly; SameSite=Lax$")
        self.assertEqual(old, "old=; Path=/sdk; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        j = json.loads(get(self.port, "/sdk/cookie").body)
        self.assertEqual(j, {"sid": None, "theme": None})

    def test_the_handlers_content_type_is_kept(self):
        r = get(self.port, "/sdk/typed")
        self.assertEqual(r.status, 409)
        self.assertEqual(r.header("Content-Type"), "application/problem+json")
        self.assertEqual(json.loads(r.body), {"title": "conflict"})

    def test_writer_misuse_is_a_500(self):
        r = get(self.port, "/sdk/misuse")
        self.assertEqual(r.status, 500, r)
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")

    def wait_task(self, task_id, timeout=POLL_LIMIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = get(self.port, "/_tasks/" + task_id)
            self.assertEqual(r.status, 200, r)
            j = json.loads(r.body)
            if j["state"] in ("done", "failed"):
                return j
            time.sleep(0.05)
        raise AssertionError("task %s not finished after %ss" % (task_id, timeout))

    def test_a_json_task_result_is_json_in_tasks(self):
        r = http(self.port, "POST", "/sdk/job", body='say "hi"'.encode())
        self.assertEqual(r.status, 202, r)
        task_id = json.loads(r.body)["id"]
        self.assertEqual(r.header("Location"), "/_tasks/" + task_id)
        j = self.wait_task(task_id)
        self.assertEqual(j["state"], "done", j)
        self.assertEqual(j["result"], {"processed": 8, "payload": 'say "hi"',
                                       "nested": [None, False]})

    def test_invalid_json_is_refused_as_a_result(self):
        r = http(self.port, "POST", "/sdk/badjob", body=b"x")
        self.assertEqual(r.status, 202, r)
        j = self.wait_task(json.loads(r.body)["id"])
        self.assertEqual(j["state"], "failed", j)
        self.assertIn("refused invalid JSON", j["error"])
        self.assertNotIn("result", j)


class DeclaredSettingsAreChecked(unittest.TestCase):
    """A value of a key the module declared bool, int, size or duration is
    checked before anything serves: -t and a start both exit 78 with
    file:line, the key and what is accepted."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="spindle-sdk-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def ini(self, key, value):
        text = ("[server]\nlisten = 127.0.0.1:%d\nprocesses = 1\nthreads = 1\n"
                "[app]\nmodule = %s\n[module:sdk_helpers]\n%s = %s\n"
                % (free_port(), test_module("sdk_helpers"), key, value))
        return write_temp_ini(text, self.dir)

    def test_bad_values_stop_t_and_a_start(self):
        cases = [("loud", "maybe", "is not a boolean"), ("max-body", "8kb", "is not a size"),
                 ("pause", "1h", "is not a duration"), ("retries", "three", "is not a whole number")]
        for key, value, why in cases:
            with self.subTest(key=key):
                path = self.ini(key, value)
                for args in (["-t", path], [path]):
                    rc, out, err = run_binary(args, timeout=20)
                    self.assertEqual(rc, EX_CONFIG, "%s: rc %r\n%s%s" % (args, rc, out, err))
                    self.assertIn("%s:8: [module:sdk_helpers]: %s: '%s' %s" % (path, key, value, why),
                                  err)
                    self.assertIn("accepted", err)

    def test_good_values_pass_t(self):
        for key, value in [("loud", "YES"), ("max-body", "2M"), ("pause", "30"), ("retries", "-1")]:
            with self.subTest(key=key):
                rc, out, err = run_binary(["-t", self.ini(key, value)], timeout=20)
                self.assertEqual(rc, 0, "rc %r\n%s%s" % (rc, out, err))


if __name__ == "__main__":
    unittest.main()
