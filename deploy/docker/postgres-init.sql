-- The products database, beside Dagster's own (POSTGRES_DB=dagster).
CREATE DATABASE products OWNER dagster;
