"""Profile one of the app's paths with pyinstrument, the way `make bench` exercises it.

    .venv/bin/python benchmarks/profile_paths.py callback   # the sign-in callback
    .venv/bin/python benchmarks/profile_paths.py profile    # the signed-in profile page
    .venv/bin/python benchmarks/profile_paths.py claims     # the claims page

The emulator runs in its own process and the app in this one; a middleware profiles each request to
the chosen path on the thread that handles it, and the sessions are combined into one report.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyinstrument import Profiler  # noqa: E402
from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer  # noqa: E402
from pyinstrument.session import Session  # noqa: E402

from benchmarks.inprocess import InProcessApp, free_ports  # noqa: E402
from benchmarks.stack import Emulator, forget_app_cookies, new_customer, sign_in, signed_in_person  # noqa: E402
from tests.support.person import Person  # noqa: E402


class ProfilingMiddleware:
    def __init__(self, app: Any, path: str) -> None:
        self.app = app
        self.path = path
        self.sessions: list[Session] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.path:
            return self.app(environ, start_response)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        try:
            result = self.app(environ, start_response)
            body = list(result)
            if hasattr(result, "close"):
                result.close()
        finally:
            profiler.stop()
        with self._lock:
            if profiler.last_session is not None:
                self.sessions.append(profiler.last_session)
        return body

    def combined(self) -> Session:
        session = self.sessions[0]
        for other in self.sessions[1:]:
            session = Session.combine(session, other)
        return session


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", choices=("callback", "profile", "claims"))
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--emulator-server", choices=("gunicorn", "werkzeug"), default="gunicorn")
    parser.add_argument("--show-all", action="store_true", help="show library frames too")
    parser.add_argument("--flat", action="store_true", help="a flat list of functions by their own time")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="ciam-profile-") as work_dir:
        work = Path(work_dir)
        (port,) = free_ports(1)
        emulator = Emulator(work, [f"http://localhost:{port}"], server=args.emulator_server)
        # One server thread handles every request, so the profiles share a thread and combine.
        app = InProcessApp(emulator.tenant, port, work / "app")
        try:
            path = app.settings.redirect_path if args.target == "callback" else f"/{args.target}"
            profiling = ProfilingMiddleware(app.meter, path)
            app.flask_app.wsgi_app = profiling  # type: ignore[method-assign]
            tenant = emulator.tenant
            customer = new_customer(tenant, "profile")
            if args.target == "callback":
                person = Person(tenant.ca_bundle)
                for _ in range(args.iterations + 5):
                    forget_app_cookies(person)
                    sign_in(person, tenant, app.base_url, customer)
            else:
                person, _ = signed_in_person(tenant, app.base_url, customer)
                for _ in range(args.iterations + 5):
                    person.get(app.base_url + path)
            session = ProfilingMiddleware.combined(_without_warmup(profiling, 5))
        finally:
            app.stop()
            emulator.stop()
    print(ConsoleRenderer(unicode=True, color=False, show_all=args.show_all, flat=args.flat).render(session))
    if args.html:
        args.html.write_text(HTMLRenderer().render(session))
    return 0


def _without_warmup(profiling: ProfilingMiddleware, warmup: int) -> ProfilingMiddleware:
    profiling.sessions = profiling.sessions[warmup:]
    return profiling


if __name__ == "__main__":
    sys.exit(main())
