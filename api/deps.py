"""Dependencies shared by the routers: settings and a database session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.settings import Settings
from api.settings import get_settings

__all__ = ["EngineDep", "SessionDep", "SettingsDep", "get_session"]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, in one transaction: committed on success, else rolled back."""
    with (
        Session(bind=request.app.state.engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
