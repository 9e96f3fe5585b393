"""A Flask application (Debian's python3-flask) for test_wsgi.py: a
streamed response and a multipart file upload."""

import hashlib

from flask import Flask, Response, request, stream_with_context

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask"


@app.route("/stream")
def stream():
    n = int(request.args.get("n", "10"))

    def rows():
        for i in range(n):
            yield "row %d of %d\n" % (i, n)
    return Response(stream_with_context(rows()), mimetype="text/plain")


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return {"filename": f.filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "note": request.form.get("note", "")}
