"""restock: distributed demand forecasting and replenishment planning on Spark + Delta Lake."""

from __future__ import annotations

__version__ = "0.1.0"
