"""Read the service's settings from the environment, one class per concern."""

from __future__ import annotations

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

from geodata.limits import ImportLimits

__all__ = [
    "AuthSettings",
    "DatabaseSettings",
    "LimitSettings",
    "MapSettings",
    "Settings",
    "get_settings",
]

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


_MiB = 1024 * 1024


class LimitSettings(BaseSettings):
    """How much one request may bring or ask for (see api/limits.py, geodata/limits.py)."""

    model_config = SettingsConfigDict(env_prefix="COTRENCH_LIMITS_")

    # a multipart upload (GIS files, attachments) and any other body (JSON, forms)
    upload_bytes: int = 200 * _MiB
    body_bytes: int = 4 * _MiB
    # a layer import: unpacked zip, zip members, features, vertices (one feature, all)
    unzipped_bytes: int = 512 * _MiB
    zip_members: int = 200
    features: int = 250_000
    vertices_per_feature: int = 100_000
    vertices: int = 10_000_000
    # time_limit_s of a plan: per role (a role name -> seconds, over api/limits.py's
    # table), and for roles in neither
    plan_seconds: dict[str, float] = {}
    plan_seconds_default: float = 30.0

    def imports(self) -> ImportLimits:
        return ImportLimits(
            unzipped_bytes=self.unzipped_bytes,
            zip_members=self.zip_members,
            features=self.features,
            vertices_per_feature=self.vertices_per_feature,
            vertices=self.vertices,
        )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COTRENCH_")

    environment: str = "development"
    # origins allowed to call the API from a browser (CORS); none by default
    cors_origins: list[str] = []
    db: DatabaseSettings = DatabaseSettings()
    auth: AuthSettings = AuthSettings()
    maps: MapSettings = MapSettings()
    limits: LimitSettings = LimitSettings()

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment != "development" and self.auth.secret_key == PLACEHOLDER_SECRET:
            msg = "COTRENCH_AUTH_SECRET_KEY must be set outside development"
            raise ValueError(msg)
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
