"""How `ciam-webapp serve --server granian` sets granian up (issue 16), and how the command picks its server
(gunicorn gthread unless told granian)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ciam_webapp import cli, granian_app, gunicorn_app
from ciam_webapp.config import ConfigError
from ciam_webapp.granian_app import granian_server, parse_bind
from ciam_webapp.serving import WORKER_THREADS
from tests.unit.test_config import VALID

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - parsed here, never bound


def test_granian_runs_the_wsgi_app_as_gunicorn_did():
    server = granian_server(bind="127.0.0.1:8123", workers=2)
    assert server.interface == "wsgi"
    assert (server.bind_addr, server.bind_port, server.workers) == ("127.0.0.1", 8123, 2)
    assert server.blocking_threads == WORKER_THREADS, "the bulkhead's bound is threads - 1"
    # backpressure counts connections (a kept-alive idle one too): never as few as the threads.
    assert server.backpressure >= 100
    assert server.respawn_failed_workers
    assert server.workers_lifetime == 3600 and server.workers_kill_timeout == 10
    assert server.log_access is False, "an access log would record query strings"


def test_worker_lifetime_below_granians_minute_is_a_configuration_error():
    with pytest.raises(ConfigError, match="at least|60 s or more"):
        granian_server(bind="127.0.0.1:8123", workers=2, worker_lifetime=59)


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        (f"{ALL_INTERFACES}:8000", {"address": ALL_INTERFACES, "port": 8000}),
        ("[::1]:8000", {"address": "::1", "port": 8000}),
        (":8000", {"address": ALL_INTERFACES, "port": 8000}),
        ("unix:/run/app.sock", {"uds": Path("/run/app.sock")}),
    ],
)
def test_gunicorns_bind_forms_are_understood(bind, expected):
    assert parse_bind(bind) == expected


def test_a_bind_without_a_port_is_refused():
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_bind("localhost")


@pytest.mark.parametrize(
    ("argv", "server", "options"),
    [
        (["serve"], "gunicorn", {"workers": 2, "max_requests": 2000, "timeout": 30}),
        (["serve", "--max-requests", "50"], "gunicorn", {"max_requests": 50, "timeout": 30}),
        (["serve", "--server", "granian"], "granian", {"workers": 2, "worker_lifetime": 3600}),
        (["serve", "--server", "granian", "--worker-lifetime", "600"], "granian", {"worker_lifetime": 600}),
    ],
)
def test_serve_runs_gunicorn_unless_told_granian(monkeypatch, tmp_path, argv, server, options):
    for name, value in {**VALID, "INSTANCE_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    called: dict[str, dict[str, object]] = {}
    monkeypatch.setattr(granian_app, "serve_with_granian", lambda settings, **kw: called.update(granian=kw))
    monkeypatch.setattr(gunicorn_app, "serve_with_gunicorn", lambda settings, **kw: called.update(gunicorn=kw))
    assert cli.main(argv) == 0
    assert list(called) == [server]
    assert options.items() <= called[server].items()


def test_a_bad_worker_lifetime_exits_with_the_configuration_error(monkeypatch, capsys, tmp_path):
    for name, value in {**VALID, "INSTANCE_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["serve", "--server", "granian", "--worker-lifetime", "10"]) == 2
    assert "--worker-lifetime is 10 s" in capsys.readouterr().err
