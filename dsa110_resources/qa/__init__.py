"""Quality checks on products, usable without Dagster (the asset checks call these)."""
