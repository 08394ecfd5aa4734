"""Dagster resource over the products database."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from .session import ProductsDB


class ProductsDBResource(ConfigurableResource):
    """SQLite file by default; any SQLAlchemy URL (e.g. Postgres) by configuration."""

    url: str = Field(description="SQLAlchemy URL, e.g. sqlite:////data/state/products.sqlite")
    _db: ProductsDB | None = PrivateAttr(default=None)

    def db(self) -> ProductsDB:
        if self._db is None:
            self._db = ProductsDB(self.url)
        return self._db

    def session(self):
        return self.db().session()
