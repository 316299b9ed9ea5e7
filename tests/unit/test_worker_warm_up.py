"""A new worker (gunicorn's or granian's) compiles the app's templates before it accepts (issue 16), so its first page
views, several threads at once, do not each compile them while requests queue."""

from __future__ import annotations

from types import SimpleNamespace

from ciam_webapp import Settings, create_app
from ciam_webapp.granian_app import build_worker_app
from ciam_webapp.gunicorn_app import compile_templates_before_serving, gunicorn_options
from tests.unit.test_config import VALID


def test_a_new_worker_has_its_templates_compiled_before_serving(tmp_path):
    app = create_app(Settings.from_mapping({**VALID, "INSTANCE_DIR": str(tmp_path)}))
    assert not app.jinja_env.cache, "nothing compiled yet"
    assert gunicorn_options(bind="x:1", workers=1, timeout=30)["post_worker_init"] is compile_templates_before_serving
    compile_templates_before_serving(SimpleNamespace(wsgi=app))
    compiled = {name for _, name in app.jinja_env.cache.keys()}
    assert {"base.html", "claims.html", "index.html", "profile.html"} <= compiled


def test_a_new_granian_worker_has_its_templates_compiled_before_serving(tmp_path):
    settings = Settings.from_mapping({**VALID, "INSTANCE_DIR": str(tmp_path)})
    app = build_worker_app(settings, None)  # what granian calls in each new worker, before it serves
    compiled = {name for _, name in app.jinja_env.cache.keys()}
    assert {"base.html", "claims.html", "index.html", "profile.html"} <= compiled
