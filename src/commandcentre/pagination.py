"""One way to page through lists, for services, the API and pages alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    limit: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.limit))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def paginate(session: Session, stmt: Select[Any], *, page: int, limit: int) -> Page[Any]:
    """Run `stmt` for one page; `stmt` selects one entity and carries its own ORDER BY."""
    page = max(1, page)
    limit = max(1, min(limit, MAX_LIMIT))
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(session.scalars(stmt.limit(limit).offset((page - 1) * limit)))
    return Page(items=items, page=page, limit=limit, total=total)


class PaginationOut(BaseModel):
    page: int
    limit: int
    total: int
