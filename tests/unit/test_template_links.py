"""Templates' url_for remembers the links it built (issue 16), and still answers exactly what Flask's
url_for does: per mount point (SCRIPT_NAME), with values, and built anew for what it cannot key."""

from __future__ import annotations

import flask
import pytest

from ciam_webapp import Settings, create_app
from tests.unit.test_config import VALID


@pytest.fixture()
def app(tmp_path):
    return create_app(Settings.from_mapping({**VALID, "INSTANCE_DIR": str(tmp_path)}))


def test_links_are_built_once_and_are_flasks_own(app, monkeypatch):
    cached_url_for = app.jinja_env.globals["url_for"]
    built: list[str] = []
    real = flask.url_for

    def counting(endpoint, **values):  # type: ignore[no-untyped-def]
        built.append(endpoint)
        return real(endpoint, **values)

    monkeypatch.setattr("ciam_webapp.web.main.url_for", counting)
    for script_root in ("", "/shop"):
        with app.test_request_context("/claims", base_url=f"http://localhost{script_root}/"):
            for _ in range(3):
                assert cached_url_for("main.claims") == real("main.claims") == f"{script_root}/claims"
                assert cached_url_for("static", filename="css/site.css") == f"{script_root}/static/css/site.css"
            assert cached_url_for("main.index", _anchor="top") == f"{script_root}/#top"
            assert cached_url_for("main.index", _anchor="top") == f"{script_root}/#top"
    # Once per link and mount point; the anchored link (not remembered) every time.
    assert built.count("main.claims") == 2 and built.count("static") == 2 and built.count("main.index") == 4


def test_a_page_renders_the_same_links(app):
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'href="/static/css/site.css"' in page and 'href="/auth/sign-in"' in page
