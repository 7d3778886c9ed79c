"""Liveness for load balancers: no sign-in, no data."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from commandcentre.web.deps import Ctx

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    database: str


@router.get("/health", response_model=Health)
def health(ctx: Ctx) -> Health:
    with ctx.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return Health(status="ok", database=ctx.engine.dialect.name)
