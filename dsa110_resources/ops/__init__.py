"""Operations: health figures, alerts and their sinks, housekeeping, database backup.

Plain code, no Dagster: ``dsa110 status``/``housekeeping``/``db`` and the
sensors in ``dsa110_sensors.alerts`` call the same functions.
"""
