"""The app as granian loads it in each worker process (`benchmarks.wsgi_target:create`, a factory),
configured from the environment exactly as `serve_subject.py` configures gunicorn's workers."""

from __future__ import annotations

from typing import Any

from ciam_webapp import Settings, create_app
from ciam_webapp.serving import WORKER_THREADS, with_outbound_call_limit


def create() -> Any:
    return create_app(with_outbound_call_limit(Settings.from_env(dotenv_path=None), threads=WORKER_THREADS))
