"""Which partitions an asset check is checking: those of its run."""


from dagster import AssetCheckExecutionContext, PartitionKeyRange, TimeWindowPartitionsDefinition

_KEY, _START, _END = "dagster/partition", "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def check_partition_keys(
    context: AssetCheckExecutionContext, partitions_def: TimeWindowPartitionsDefinition
) -> list[str]:
    tags = context.run.tags
    if _KEY in tags:
        return [tags[_KEY]]
    if _START in tags and _END in tags:
        return partitions_def.get_partition_keys_in_range(PartitionKeyRange(tags[_START], tags[_END]))
    return []
