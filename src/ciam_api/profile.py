"""`/profile` without Flask: validate a change, get a Graph token on behalf of the caller, call Graph.

The properties and their limits are `ciam_core.customer_profile`'s, shared with the web app, so the
API accepts exactly what the web app's form offers; the API checks again because it trusts no caller.
"""

from __future__ import annotations

import logging
from typing import Any

from ciam_core.customer_profile import LABELS, check_changes, normalized, refused_fields_message
from ciam_core.graph import (
    GraphBadRequest,
    GraphClient,
    GraphError,
    GraphForbidden,
    GraphUnauthorized,
    GraphUnavailable,
)

from .access_tokens import AccessToken
from .errors import DeploymentError, ForbiddenFields, InvalidRequest, TemporarilyUnavailable
from .on_behalf_of import OnBehalfOfClient

log = logging.getLogger(__name__)

Changes = dict[str, str | None]


def validated_changes(body: Any) -> Changes:
    """The PATCH body as Graph changes, or InvalidRequest naming every offending property.

    The rules are ciam_core's `check_changes`, the web form's own: each value is a string (surrounding
    spaces dropped; empty clears) or null (clears); displayName cannot be cleared."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object of profile properties.")
    fields = check_changes(body)
    if fields:
        raise InvalidRequest(
            "Some properties cannot be saved.", {name[:64]: message for name, message in fields.items()}
        )
    return {name: normalized(value) for name, value in body.items()}


class ProfileService:
    def __init__(self, *, obo: OnBehalfOfClient, graph: GraphClient) -> None:
        self._obo = obo
        self._graph = graph

    def read(self, caller: AccessToken) -> dict[str, Any]:
        return self._with_graph(caller, lambda token: self._graph.read_me(token))

    def update(self, caller: AccessToken, body: Any) -> Changes:
        """Apply the change; an empty one makes no call at all. Returns what was sent to Graph."""
        changes = validated_changes(body)
        if not changes:
            return changes
        try:
            self._with_graph(caller, lambda token: self._graph.update_me(token, changes))
        except GraphBadRequest as exc:
            name = exc.property_name
            if name in changes:
                raise InvalidRequest(
                    "Microsoft Graph refused a value.", {name: f"{LABELS[name]} has a value that cannot be saved."}
                ) from exc
            raise InvalidRequest(
                "Microsoft Graph refused the change.",
                {n: f"{LABELS[n]} may have a value that cannot be saved." for n in changes},
            ) from exc
        except GraphForbidden as exc:
            message = refused_fields_message(changes)
            raise ForbiddenFields(f"Graph 403 {exc.code}", {name: message for name in changes}) from exc
        return changes

    def _with_graph(self, caller: AccessToken, call: Any) -> Any:
        """Run `call(graph_token)`; a claims challenge from Graph (CAE, conditional access) is answered
        once with a fresh exchange carrying the claims, whose own refusal then travels to the caller."""
        token = self._obo.graph_token(caller)
        try:
            try:
                return call(token.access_token)
            except GraphUnauthorized as exc:
                if exc.claims is None:
                    raise
                log.info("Graph sent a claims challenge; exchanging again with its claims", extra={"user": caller.user})
                token = self._obo.graph_token(caller, claims_challenge=exc.claims)
                return call(token.access_token)
        except GraphUnavailable as exc:
            log.warning(
                "Graph unavailable", extra={"status": exc.status, "graph_error": exc.code, "request_id": exc.request_id}
            )
            raise TemporarilyUnavailable(f"Graph {exc.status} {exc.code}", exc.retry_after) from exc
        except GraphUnauthorized as exc:
            # Graph refused a token the tenant has just issued for it: a registration problem, not the caller's.
            log.error(
                "Graph refused the on-behalf-of token",
                extra={"status": exc.status, "graph_error": exc.code, "request_id": exc.request_id},
            )
            raise DeploymentError(f"Graph 401 {exc.code}") from exc
        except (GraphBadRequest, GraphForbidden):
            raise
        except GraphError as exc:
            log.error(
                "Graph error", extra={"status": exc.status, "graph_error": exc.code, "request_id": exc.request_id}
            )
            raise DeploymentError(f"Graph {exc.status} {exc.code}") from exc
