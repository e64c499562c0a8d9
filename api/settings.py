"""Read the service's settings from the environment, one class per concern."""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

__all__ = ["AuthSettings", "DatabaseSettings", "MapSettings", "Settings", "get_settings"]

PLACEHOLDER_SECRET = "change-me-in-production"


class DatabaseSettings(BaseSettings):
    """Where PostGIS is. Without a URL the project's own cluster is started."""

    model_config = SettingsConfigDict(env_prefix="COTRENCH_DB_")

    url: str | None = None


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COTRENCH_AUTH_")

    secret_key: str = PLACEHOLDER_SECRET
    token_ttl_minutes: int = 8 * 60


class MapSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COTRENCH_MAP_")

    # a locally configured tile URL (the city's own tile server); none means no base layer
    tile_url: str | None = None
    tile_attribution: str = ""
    max_folium_features: int = 20_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COTRENCH_")

    environment: str = "development"
    # origins allowed to call the API from a browser (CORS); none by default
    cors_origins: list[str] = []
    db: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    maps: MapSettings = MapSettings()

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment != "development" and self.auth.secret_key == PLACEHOLDER_SECRET:
            msg = "COTRENCH_AUTH_SECRET_KEY must be set outside development"
            raise ValueError(msg)
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
