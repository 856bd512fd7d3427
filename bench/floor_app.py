"""The framework floor: a bare Flask app under the same gunicorn settings as joingate.
``/r`` answers 302 (GET or POST), ``/hook`` answers 200 JSON to a POST."""

from flask import Flask, jsonify, redirect

app = Flask(__name__)


@app.route("/r", methods=["GET", "POST"])
def bare_redirect():
    return redirect("https://app.zoom.us/wc/1/join", code=302)


@app.post("/hook")
def bare_hook():
    return jsonify(status="recorded")
