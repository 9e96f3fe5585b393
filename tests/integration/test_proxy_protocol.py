"""PROXY protocol v1/v2 and forwarded headers, honoured only from
trusted-proxies.  nginx-light has no stream module (nginx -V: no
--with-stream built in), so the PROXY headers come from the test itself,
byte for byte as HAProxy or nginx's stream proxy_protocol would send them.
See docs/deploy.md."""

import json
import socket
import struct
import unittest

from spindle_harness import (Server, build_request, example, parse_one, read_until_close,
                             run_binary, write_temp_ini)

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_tcp4(src, sport, dst="127.0.0.1", dport=80, command=1, tlv=b""):
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x20 | command, 0x11]) + struct.pack("!H", len(addr + tlv)) + addr + tlv


def v2_tcp6(src, sport, dst="::1", dport=80):
    addr = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack("!HH", sport, dport))
    return V2_SIG + b"\x21\x21" + struct.pack("!H", len(addr)) + addr


GET = build_request("GET", "/echo/x", [("Connection", "close")])


def config(**server):
    srv = {"processes": 1, "threads": 2}
    srv.update(server)
    return {"server": srv, "app": {"module": [example("echo")]}}


def exchange(port, data, chunks=None, timeout=5.0):
    """Send data (optionally one byte at a time); (bytes until close, how)."""
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        try:
            if chunks == 1:
                for i in range(len(data)):
                    s.sendall(data[i:i + 1])
            else:
                s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_until_close(s, timeout)


def client_of(port, data, **kw):
    raw, _ = exchange(port, data, **kw)
    r = parse_one(raw, 0, eof=True)[0]
    assert r.status == 200, r
    p = json.loads(r.body)
    return p["client"]["address"], p["client"]["port"], p["scheme"]


class TrustedProxyProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(config(**{"proxy-protocol": "auto",
                                      "trusted-proxies": "127.0.0.1/32, 10.0.0.0/8"}), probe=None)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.port = cls.server.port

    def test_v1_tcp4_and_tcp6(self):
        self.assertEqual(client_of(self.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 4567 80\r\n" + GET),
                         ("203.0.113.7", 4567, "http"))
        self.assertEqual(client_of(self.port, b"PROXY TCP6 2001:db8::7 ::1 1 80\r\n" + GET),
                         ("2001:db8::7", 1, "http"))

    def test_v1_one_byte_at_a_time(self):
        data = b"PROXY TCP4 198.51.100.9 127.0.0.1 999 80\r\n" + GET
        self.assertEqual(client_of(self.port, data, chunks=1)[:2], ("198.51.100.9", 999))

    def test_v2_tcp4_with_tlv_tcp6_and_local(self):
        tlv = b"\x04\x00\x03abc"  # a NOOP TLV
        self.assertEqual(client_of(self.port, v2_tcp4("192.0.2.44", 5000, tlv=tlv) + GET)[:2],
                         ("192.0.2.44", 5000))
        self.assertEqual(client_of(self.port, v2_tcp6("2001:db8::44", 6000) + GET)[:2],
                         ("2001:db8::44", 6000))
        addr, _, _ = client_of(self.port, v2_tcp4("192.0.2.44", 5000, command=0) + GET)
        self.assertEqual(addr, "127.0.0.1", "LOCAL keeps the socket's address")

    def test_header_once_then_keep_alive(self):
        with socket.create_connection(("127.0.0.1", self.port), 5) as s:
            s.sendall(b"PROXY TCP4 203.0.113.8 127.0.0.1 1234 80\r\n")
            for i in range(3):
                s.sendall(build_request("GET", "/echo/k%d" % i,
                                        [("Connection", "close")] if i == 2 else []))
            raw, _ = read_until_close(s, 5)
        pos, seen = 0, []
        for _ in range(3):
            r, pos = parse_one(raw, pos, eof=True)
            seen.append(json.loads(r.body)["client"]["address"])
        self.assertEqual(seen, ["203.0.113.8"] * 3)

    def test_forwarded_for_behind_proxy_header(self):
        # The PROXY header names a trusted hop (10.9.9.9): its
        # X-Forwarded-For is believed in turn.
        req = build_request("GET", "/echo/f", [("X-Forwarded-For", "198.51.100.1"),
                                               ("X-Forwarded-Proto", "https"),
                                               ("Connection", "close")])
        self.assertEqual(client_of(self.port, b"PROXY TCP4 10.9.9.9 127.0.0.1 1 80\r\n" + req),
                         ("198.51.100.1", 0, "https"))
        # An untrusted client address from the header: its XFF is ignored.
        self.assertEqual(client_of(self.port, b"PROXY TCP4 203.0.113.1 127.0.0.1 1 80\r\n" + req),
                         ("203.0.113.1", 1, "http"))

    def assertClosedSilently(self, data, why):
        raw, how = exchange(self.port, data)
        self.assertEqual(raw, b"", "%s: answered %r" % (why, raw[:100]))
        self.assertIn(how, ("closed", "reset"), why)

    def test_missing_or_malformed_header_closed(self):
        self.assertClosedSilently(GET, "no PROXY header from a trusted peer")
        self.assertClosedSilently(b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n" + GET, "leading zero")
        self.assertClosedSilently(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n" + GET, "bare LF")
        self.assertClosedSilently(b"PROXY " + b"x" * 200, "no CRLF in 107 bytes")
        self.assertClosedSilently(V2_SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12 + GET, "DGRAM")
        self.assertIn("PROXY", self.server.log())
        self.assertEqual(client_of(self.port, b"PROXY UNKNOWN\r\n" + GET)[0], "127.0.0.1")


class VersionPinned(unittest.TestCase):
    def test_v1_only_refuses_v2(self):
        with Server(config(**{"proxy-protocol": "v1", "trusted-proxies": "127.0.0.1"}),
                    probe=None) as s:
            raw, _ = exchange(s.port, v2_tcp4("192.0.2.1", 1) + GET)
            self.assertEqual(raw, b"")
            self.assertEqual(client_of(s.port, b"PROXY TCP4 192.0.2.1 127.0.0.1 2 80\r\n" + GET)[0],
                             "192.0.2.1")


class UntrustedPeer(unittest.TestCase):
    """trusted-proxies does not include 127.0.0.1: the test is a stranger."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(config(**{"proxy-protocol": "auto", "trusted-proxies": "10.0.0.0/8"}))
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.port = cls.server.port

    def test_proxy_header_refused_and_logged(self):
        for data in (b"PROXY TCP4 10.1.1.1 127.0.0.1 1 80\r\n" + GET, v2_tcp4("10.1.1.1", 1) + GET):
            raw, how = exchange(self.port, data)
            self.assertEqual(raw, b"")
        self.assertIn("PROXY header from a peer not in trusted-proxies", self.server.log())

    def test_plain_http_served_and_forwarded_headers_ignored(self):
        req = build_request("GET", "/echo/u", [("X-Forwarded-For", "203.0.113.50"),
                                               ("X-Forwarded-Proto", "https"),
                                               ("Forwarded", "for=203.0.113.51;proto=https"),
                                               ("Connection", "close")])
        self.assertEqual(client_of(self.port, req)[0::2], ("127.0.0.1", "http"))
        # "P" then "OST": not mistaken for a PROXY header.
        post = build_request("POST", "/echo/p", [("Connection", "close")], b"x")
        self.assertEqual(client_of(self.port, post, chunks=1)[0], "127.0.0.1")


class ForwardedHeaders(unittest.TestCase):
    def test_x_forwarded(self):
        cfg = config(**{"trusted-proxies": "127.0.0.1/32, 10.0.0.0/8"})
        with Server(cfg) as s:
            req = build_request("GET", "/echo/x", [
                ("X-Forwarded-For", "6.6.6.6, 203.0.113.5, 10.1.1.1"),
                ("X-Forwarded-Proto", "https"), ("Connection", "close")])
            self.assertEqual(client_of(s.port, req), ("203.0.113.5", 0, "https"))

    def test_rfc7239_mode(self):
        cfg = config(**{"trusted-proxies": "127.0.0.1", "forwarded-headers": "forwarded"})
        with Server(cfg) as s:
            req = build_request("GET", "/echo/x", [
                ("X-Forwarded-For", "203.0.113.5"),
                ("Forwarded", 'for="[2001:db8::5]:8443";proto=https'), ("Connection", "close")])
            self.assertEqual(client_of(s.port, req), ("2001:db8::5", 8443, "https"))

    def test_off_mode(self):
        cfg = config(**{"trusted-proxies": "127.0.0.1", "forwarded-headers": "off"})
        with Server(cfg) as s:
            req = build_request("GET", "/echo/x", [("X-Forwarded-For", "203.0.113.5"),
                                                   ("Connection", "close")])
            self.assertEqual(client_of(s.port, req)[0], "127.0.0.1")


class Config(unittest.TestCase):
    def test_bad_trusted_proxies_is_a_config_error(self):
        ini = write_temp_ini("[server]\nlisten = 127.0.0.1:1\ntrusted-proxies = 10.0.0.0/33\n")
        rc, out, err = run_binary(["-t", ini])
        self.assertEqual(rc, 78)
        self.assertIn("server.ini:3: trusted-proxies: '10.0.0.0/33'", err)

    def test_bad_proxy_protocol_value(self):
        ini = write_temp_ini("[server]\nlisten = 127.0.0.1:1\nproxy-protocol = v3\n")
        rc, out, err = run_binary(["-t", ini])
        self.assertEqual(rc, 78)
        self.assertIn("proxy-protocol", err)


if __name__ == "__main__":
    unittest.main()
