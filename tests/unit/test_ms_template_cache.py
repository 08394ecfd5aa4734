"""The tmpfs MS-skeleton cache is checked before use: nothing planted in it reaches a product."""

from __future__ import annotations

import os

import pytest

from dsa110_resources.conversion.ms_writer import TEMPLATE_PREFIX, DirectMSWriter


def _make_ms(path, template_root):
    writer = DirectMSWriter(path, n_rows=64, n_chan=8, n_pol=2, template_root=template_root)
    writer.close_files()
    return path


def _links(tree):
    return [p for p in tree.rglob("*") if p.is_symlink()]


def _template(root):
    (template,) = root.glob(f"{TEMPLATE_PREFIX}*")
    return template / "skeleton.ms"


def test_planted_symlink_is_never_copied_into_a_product(tmp_path):
    root, secret = tmp_path / "templates", tmp_path / "host-secret"
    secret.write_text("private bytes of another file on the host")
    _make_ms(tmp_path / "first.ms", root)
    victim = next(p for p in sorted(_template(root).rglob("*")) if p.is_file() and p.name == "table.info")
    victim.unlink()
    victim.symlink_to(secret)  # what a hostile or careless user of /dev/shm could leave
    (_template(root) / "extra").symlink_to(secret)

    ms = _make_ms(tmp_path / "second.ms", root)
    assert _links(ms) == [], "a symlink from the template cache was copied into the MS"
    assert "private bytes" not in (ms / victim.relative_to(_template(root))).read_text(errors="replace")
    assert _links(_template(root)) == [], "the bad cache entry was not rebuilt"


@pytest.mark.parametrize("points_to", ["directory", "file"])
def test_template_entry_replaced_by_a_symlink_is_rebuilt(tmp_path, points_to):
    root, elsewhere = tmp_path / "templates", tmp_path / "elsewhere"
    _make_ms(tmp_path / "first.ms", root)
    template = _template(root).parent
    template.rename(elsewhere)
    if points_to == "file":
        elsewhere = tmp_path / "host-secret"
        elsewhere.write_text("private")
    template.symlink_to(elsewhere)  # the whole entry now points out of the cache
    ms = _make_ms(tmp_path / "second.ms", root)
    assert _links(ms) == [] and not template.is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file away needs root")
def test_entry_owned_by_someone_else_is_rebuilt(tmp_path):
    root = tmp_path / "templates"
    _make_ms(tmp_path / "first.ms", root)
    foreign = next(p for p in _template(root).rglob("*") if p.is_file())
    os.chown(foreign, 65534, 65534)
    _make_ms(tmp_path / "second.ms", root)
    assert all(p.lstat().st_uid == os.geteuid() for p in _template(root).rglob("*"))


def test_cache_directory_others_can_write_is_not_used(tmp_path):
    root = tmp_path / "templates"
    root.mkdir()
    root.chmod(0o777)  # anyone could swap entries between our check and our copy
    ms = _make_ms(tmp_path / "first.ms", root)
    assert (ms / "table.dat").exists()
    assert list(root.iterdir()) == []
