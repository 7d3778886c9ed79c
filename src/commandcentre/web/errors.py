"""One place that turns errors into responses: JSON for the API, friendly pages otherwise."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from commandcentre.db.scoping import ScopeViolation
from commandcentre.errors import DomainError
from commandcentre.web.deps import LoginRequired


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    from commandcentre.web.templating import render

    return render(request, "error.html", status_code=status, title=title, message=message)


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "request"


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if _is_api(request):
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status_code)
    titles = {404: "Not found", 403: "Not allowed", 401: "Sign in needed", 409: "Conflict"}
    return _error_page(
        request, exc.status_code, titles.get(exc.status_code, "Something is wrong"), exc.message
    )


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_of(err.get("loc", ())), "message": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    if _is_api(request):
        first = errors[0] if errors else {"field": "request", "message": "invalid"}
        return JSONResponse(
            {
                "detail": f"{first['field']}: {first['message']}",
                "field": first["field"],
                "errors": errors,
            },
            status_code=422,
        )
    text = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return _error_page(request, 422, "Please check the form", text)


async def login_required(request: Request, exc: Exception) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if _is_api(request):
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )
    titles = {404: "Not found", 405: "Not allowed"}
    return _error_page(
        request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail)
    )


async def scope_violation(request: Request, exc: Exception) -> Response:
    # Reaching here is a bug; answer as if the object did not exist, never leak it.
    if _is_api(request):
        return JSONResponse({"detail": "Not found"}, status_code=404)
    return _error_page(request, 404, "Not found", "That page does not exist.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ScopeViolation, scope_violation)
