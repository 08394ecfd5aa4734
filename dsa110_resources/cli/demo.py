"""``dsa110 demo``: the embedded default run (simulated telescope, local data, SQLite)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where the simulated feed and all products go.")
@click.option("--headless", is_flag=True,
              help="No UI: run every tile in this process and print a summary at the end.")
@click.option("--tiles", "n_tiles", type=int, default=12, show_default=True,
              help="Tiles to simulate (12 ~ one hour; the first holds a 3C286 transit).")
@click.option("--preset", type=click.Choice(["small", "tiny", "full"]), default="small", show_default=True,
              help="small: 24 antennas x 16 subbands; tiny: 6 x 2; full: 96 x 16 (~2.2 GB/tile).")
@click.option("--speedup", type=float, default=20.0, show_default=True,
              help="Telescope cadence speed-up (20: a tile every ~15 s).")
@click.option("--port", type=int, default=3000, show_default=True, help="Dagster UI port.")
@click.option("--graph", is_flag=True, help="Only print the pipeline's asset graph and exit.")
def command(data_root: Path, headless: bool, n_tiles: int, preset: str, speedup: float, port: int,
            graph: bool) -> None:
    """Run the pipeline on a simulated telescope feed.

    Without --headless this starts Dagster's webserver and daemon with the
    incoming-files sensor on, and prints the UI address; products land under
    --data-root while you watch.
    """
    from dsa110_assets import demo

    if graph:
        for line in describe_definitions():
            click.echo(line)
        return
    settings = demo.DemoSettings(data_root=data_root.resolve(), n_tiles=n_tiles, preset=preset,
                                 speedup=speedup, port=port)
    if headless:
        outcomes = demo.run_headless(settings, log=click.echo)
        click.echo(f"\nruns: {sum(v == 'succeeded' for v in outcomes.values())} succeeded,"
                   f" {sum(v == 'failed' for v in outcomes.values())} failed")
        for line in demo.summary(settings.data_root):
            click.echo(line)
        if any(v == "failed" for v in outcomes.values()):
            raise SystemExit(1)
    else:
        demo.run_interactive(settings, log=click.echo)


def describe_definitions() -> list[str]:
    """The loaded code location, as lines: assets with their deps, checks, sensors, jobs."""
    from dsa110_assets.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    lines = [f"Code location dsa110: {len(graph.get_all_asset_keys())} assets"]
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        part = f" [{type(partitions).__name__}]" if partitions else ""
        deps = ", ".join(sorted(p.to_user_string() for p in node.parent_keys)) or "-"
        lines.append(f"  {key.to_user_string()}{part} <- {deps}")
    for check_key in sorted(graph.asset_check_keys, key=str):
        lines.append(f"  check {check_key.asset_key.to_user_string()}:{check_key.name}")
    lines += [f"  sensor {s.name}" for s in repo.sensor_defs]
    lines += [f"  schedule {s.name}" for s in repo.schedule_defs]
    lines += [f"  job {j.name}" for j in repo.get_all_jobs() if not j.name.startswith("__")]
    lines.append(f"  resources: {', '.join(sorted(repo.get_top_level_resources()))}")
    return lines
