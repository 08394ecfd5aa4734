"""The Dagster layer: partitions, assets, checks, jobs and the Definitions."""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill_policy and partitioned asset checks are marked beta/preview; we use
# them deliberately and keep the operators' logs free of the reminder.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
