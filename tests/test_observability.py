"""Request ids, JSON request logs without tokens, metrics, and the invalid-token limit."""

from __future__ import annotations

from helpers import MEETING_ID, make_app, path_of

from joingate.views import link_status


def test_request_id_is_echoed_or_made(client, link):
    given = client.get(path_of(link), headers={"X-Request-ID": "abc12345-req"})
    assert given.headers["X-Request-ID"] == "abc12345-req"
    made = client.get(path_of(link), headers={"X-Request-ID": "bad id <script>"})
    assert len(made.headers["X-Request-ID"]) == 32


def test_request_log_names_the_link_by_its_id(client, link, caplog):
    client.post(path_of(link), headers={"X-Request-ID": "trace-0001"})
    records = [r for r in caplog.records if r.name == "joingate.access"]
    assert records[-1].path.startswith("/j/") and len(records[-1].path) == 13
    assert records[-1].request_id == "trace-0001" and records[-1].status == 303
    assert records[-1].outcome == "claimed"
    client.get("/j/not-a-token")
    assert [r for r in caplog.records if r.name == "joingate.access"][-1].path == "/j/invalid"


def test_metrics_count_claims_by_outcome(app, client, link):
    client.post(path_of(link))
    app.test_client().post(path_of(link))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'joingate_claims_total{outcome="claimed"} 1.0' in text
    assert 'joingate_claims_total{outcome="used_elsewhere"} 1.0' in text
    assert "joingate_request_seconds_bucket" in text


def test_metrics_token(app, store_url, clock):
    guarded = make_app(store_url, clock, like=app, METRICS_TOKEN="m-token").test_client()
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer m-token"}).status_code == 200


def test_many_invalid_tokens_get_429_but_valid_links_still_work(app, store_url, clock, link):
    limited = make_app(store_url, clock, like=app, INVALID_TOKEN_LIMIT=5).test_client()
    statuses = [limited.get(f"/j/guess{n}").status_code for n in range(8)]
    assert statuses == [404] * 5 + [429] * 3
    refused = limited.get("/j/guess9")
    assert refused.headers["Retry-After"] == "60"
    for _ in range(20):
        assert limited.get(path_of(link)).status_code == 200
    assert limited.post(path_of(link)).status_code == 303
    other = limited.get("/j/guess", environ_base={"REMOTE_ADDR": "198.51.100.2"})
    assert other.status_code == 404


def test_proxy_hops_decide_whose_address_is_recorded(app, store_url, clock, service, link):
    behind_nginx = make_app(store_url, clock, like=app, PROXY_HOPS=1).test_client()
    behind_nginx.get(path_of(link), headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.5"})
    direct = make_app(store_url, clock, like=app).test_client()
    direct.get(path_of(link), headers={"X-Forwarded-For": "198.51.100.1"})
    ips = [e["ip"] for e in link_status(service, MEETING_ID, "ana.lima@example.org")["history"]]
    assert ips == ["203.0.113.5", "127.0.0.1"]


def test_the_json_line_formatter_writes_what_python_json_logger_writes():
    """gunicorn.conf.py's cheaper formatter: the same line, byte for byte, as the
    JsonFormatter it replaces, for request lines, errors with a traceback and odd values."""
    import datetime
    import logging
    import sys

    from pythonjsonlogger.json import JsonFormatter

    from joingate.observability import JSON_LOG_FORMAT, JSON_LOG_RENAMES, JsonLineFormatter

    plain = JsonFormatter(JSON_LOG_FORMAT, rename_fields=JSON_LOG_RENAMES)
    lean = JsonLineFormatter(JSON_LOG_FORMAT, rename_fields=JSON_LOG_RENAMES)
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    records = [
        logging.LogRecord("joingate.access", logging.INFO, "f.py", 1, "request", (), None),
        logging.LogRecord("joingate.pages", logging.WARNING, "f.py", 2, "on %s %s", ("GET", "/j/x"),
                          None),
        logging.LogRecord("joingate.fastgate", logging.ERROR, "f.py", 3, "failed", (), exc_info),
        logging.LogRecord("joingate", logging.INFO, "f.py", 4, "Zoë 李 \u202e", (), None),
    ]
    records[0].__dict__.update(event="request", request_id="r" * 32, status=303,
                               duration_ms=1.25, outcome="claimed")
    records[3].__dict__.update(when=datetime.datetime(2026, 12, 1, 18, 0), nothing=None)
    for n, record in enumerate(records):
        record.created += n * 0.7           # crosses whole seconds: the cached time text moves
        record.msecs = (record.created % 1) * 1000
        assert lean.format(record) == plain.format(record)
