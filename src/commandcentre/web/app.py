"""The web application: API under /api, server-rendered pages everywhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from commandcentre.context import AppContext
from commandcentre.web import errors
from commandcentre.web.routers import api_routers, page_routers
from commandcentre.web.security import SecurityHeaders
from commandcentre.web.templating import TEMPLATES_DIR

STATIC_DIR = TEMPLATES_DIR.with_name("static")


def create_app(ctx: AppContext, *, with_worker: bool = False) -> FastAPI:
    """The app; `with_worker` runs the agent worker in this process (the single-box default)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if with_worker:
            from commandcentre.agents.worker import Worker

            worker = Worker(ctx)
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop(graceful=True)

    app = FastAPI(
        title="Command Centre API",
        version="0.1.0",
        description="Event intelligence, opportunities and the agents that work on them.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    for router in api_routers():
        app.include_router(router, prefix="/api")
    for router in page_routers():
        app.include_router(router)
    return app
