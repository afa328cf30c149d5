"""``/v1/bundles``: ``baton deploy`` uploads a workflow's code here.

The server stores the bundle in the database (so workers on any host can fetch it), records
a new version of the workflow pointing at it, registers it (runs its code in register mode in
a subprocess on this server, inside the bundle's virtual environment if it has a
``requirements.txt``) and makes it the workflow's current version. Runs already started keep
the version they were started with.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from baton.bundles.pack import BundleError
from baton.bundles.store import save_bundle
from baton.errors import InvalidInput, RegistrationFailed
from baton.services import Services
from baton.worker.register import Registrar

router = APIRouter(tags=["workflows"])
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_slug(slug: str) -> None:
    if not _SLUG.match(slug):
        raise InvalidInput(
            f"invalid workflow name {slug!r}: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit"
        )


@router.post("/bundles", status_code=201, summary="Deploy a code bundle as a workflow version")
async def deploy_bundle(
    request: Request,
    workflow: Annotated[str, Query(min_length=1, max_length=100)],
    target: Annotated[str, Query(min_length=1, max_length=2000)],
    kind: Annotated[str, Query(pattern="^(baton|command)$")] = "baton",
    sha256: Annotated[str | None, Header(alias="X-Bundle-Sha256")] = None,
) -> JSONResponse:
    services: Services = request.app.state.services
    registrar: Registrar | None = getattr(request.app.state, "registrar", None)
    if registrar is None:
        raise RegistrationFailed("this server cannot register code (no registrar configured)")
    check_slug(workflow)
    data = await request.body()
    if not data:
        raise InvalidInput("the request body must be the bundle (a tar.gz); it is empty")
    try:
        ref = save_bundle(services.store, data, sha256)
    except BundleError as exc:
        raise InvalidInput(exc.message) from exc
    version = services.store.add_version(workflow, target, kind, ref)
    tasks = await registrar.register(version)
    body: dict[str, Any] = {
        "workflow": workflow,
        "version_id": version.id,
        "digest": ref.split(":", 1)[1],
        "size": len(data),
        "tasks": [f"{workflow}/{t.name}" for t in tasks],
    }
    return JSONResponse(body, status_code=201)
