"""Dependencies shared by the routers: settings, a database session, the city road graphs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.services.graphs import RoadGraphs
from api.settings import Settings

__all__ = [
    "EngineDep",
    "RoadGraphsDep",
    "SessionDep",
    "SettingsDep",
    "get_app_settings",
    "get_road_graphs",
    "get_session",
]


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


def get_app_settings(request: Request) -> Settings:
    """The settings the app was made with (``create_app(settings)``), not a second copy."""
    settings: Settings = request.app.state.settings
    return settings


def get_road_graphs(request: Request) -> RoadGraphs:
    """The app's road-graph cache (``app.state.graphs``, made by the lifespan)."""
    graphs: RoadGraphs = request.app.state.graphs
    return graphs


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
RoadGraphsDep = Annotated[RoadGraphs, Depends(get_road_graphs)]
