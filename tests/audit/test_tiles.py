"""Merkle tiles (C2SP tlog-tiles): the layout, proofs equal to the scan's, the writer's tiles, restarts,
damaged tiles, retention, and `audit prove` reading them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_comply.audit import _format as fmt
from mcp_comply.audit import merkle
from mcp_comply.audit.note import Checkpoint, open_note
from mcp_comply.audit.tiles import (
    TileMissing,
    TileReader,
    TileWriter,
    log_leaf_hashes,
    open_tiles,
    tail_leaf_hashes,
    tile_path,
)
from mcp_comply.audit.writer import AuditWriter, WriterConfig
from mcp_comply.cli import main

from .conftest import SIGNER, write_log

b64 = base64.b64decode


def _leaves(n: int, seed: bytes = b"") -> list[bytes]:
    return [hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(n)]


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _signed_root(notes: Path, size: int) -> bytes:
    body, _ = open_note((notes / f"{size:012d}.note").read_text(), [SIGNER.verifier])
    return Checkpoint.parse(body).root


def _prove(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[dict[str, Any], str]:
    capsys.readouterr()  # what the writer logged before
    assert main(["audit", "prove", *argv]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


@pytest.mark.parametrize(("level", "index", "width", "path"), [
    (0, 0, 256, "0/000"),
    (0, 5, 256, "0/005"),
    (1, 999, 256, "1/999"),
    (0, 1000, 256, "0/x001/000"),
    (4, 1234067, 256, "4/x001/x234/067"),
    (4, 1234067, 1, "4/x001/x234/067.p/1"),
    (2, 0, 255, "2/000.p/255"),
])
def test_tile_paths_follow_the_spec(level: int, index: int, width: int, path: str) -> None:
    assert tile_path(level, index, width) == path


def test_the_spec_example_of_70000_leaves(tmp_path: Path) -> None:
    """tlog-tiles: 273 full level-0 tiles, a partial one of width 112, one full level-1 tile, a
    partial one of width 17 and a partial level-2 tile of width 1; a full tile's partials are gone."""
    leaves = _leaves(70_000)
    writer = TileWriter(tmp_path)
    for i, leaf in enumerate(leaves):
        writer.append(leaf)
        if i % 1000 == 999:
            writer.flush()
    assert writer.flush()
    expected = {f"tile/0/{n:03d}" for n in range(273)} | {
        "tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1",
        "tile/1/001.p/1", "tile/1/001.p/5", "tile/1/001.p/9", "tile/1/001.p/13"}  # earlier checkpoints' widths
    assert _files(tmp_path) == expected
    assert (tmp_path / "tile/0/007").read_bytes() == b"".join(leaves[7 * 256:8 * 256])
    assert (tmp_path / "tile/0/273.p/112").read_bytes() == b"".join(leaves[273 * 256:])
    level1 = (tmp_path / "tile/1/000").read_bytes()
    assert level1[32 * 5:32 * 6] == merkle.root(leaves[5 * 256:6 * 256])
    assert (tmp_path / "tile/2/000.p/1").read_bytes() == merkle.root(leaves[:65536])
    assert writer.root() == merkle.root(leaves)
    small = TileWriter(tmp_path / "256")
    for leaf in leaves[:256]:
        small.append(leaf)
    small.flush()
    assert _files(tmp_path / "256") == {"tile/0/000", "tile/1/000.p/1"}


@st.composite
def _trees(draw: st.DrawFn) -> tuple[int, list[int], bytes]:
    size = draw(st.one_of(st.integers(1, 70_000),
                          st.sampled_from([1, 2, 255, 256, 257, 511, 512, 513, 65_535, 65_536, 65_537, 70_000])))
    checkpoints = sorted(set(draw(st.lists(st.integers(1, size), max_size=6))) | {size})
    return size, checkpoints, draw(st.binary(min_size=1, max_size=4))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_trees(), data=st.data())
def test_tile_proofs_equal_the_scan_proofs(tree: tuple[int, list[int], bytes], data: st.DataObject) -> None:
    """For any size and any checkpoint sizes on the way, every root and proof read from the tiles is
    the one merkle.py computes over all the leaves."""
    size, checkpoints, seed = tree
    leaves = _leaves(size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        writer = TileWriter(Path(tmp))
        for leaf in leaves:
            writer.append(leaf)
            if writer.size in checkpoints:
                assert writer.flush()
        reader = TileReader(Path(tmp))
        for n in checkpoints[-3:]:
            tree_leaves = leaves[:n]
            assert reader.root(n) == merkle.root(tree_leaves)
            index = data.draw(st.one_of(st.integers(0, n - 1), st.sampled_from([0, n - 1])))
            assert reader.leaf(index) == leaves[index]
            assert reader.inclusion_proof(index, n) == merkle.inclusion_proof(tree_leaves, index)
            old = data.draw(st.one_of(st.integers(1, n), st.sampled_from([1, n, min(n, 256), min(n, 65_536)])))
            assert reader.consistency_proof(old, n) == merkle.consistency_proof(tree_leaves, old)
            # any size at or below a checkpoint is served (a wider partial tile starts with the narrower)
            smaller = data.draw(st.integers(1, n))
            assert reader.root(smaller) == merkle.root(leaves[:smaller])


def test_a_size_beyond_the_written_tiles_is_missing(tmp_path: Path) -> None:
    writer = TileWriter(tmp_path)
    for leaf in _leaves(300):
        writer.append(leaf)
    writer.flush()
    for leaf in _leaves(10, b"more"):
        writer.append(leaf)  # not flushed: no checkpoint covers size 310 yet
    reader = TileReader(tmp_path)
    assert reader.root(300) == merkle.root(_leaves(300))
    with pytest.raises(TileMissing, match=r"no tile tile/0/001 with 48 hashes"):
        reader.root(310)


def test_resume_continues_where_the_files_end(tmp_path: Path) -> None:
    """A writer resumed from the files (and the log's last leaves for what the partial tile lacks)
    writes the same tiles as one that never stopped."""
    leaves = _leaves(70_300)
    first = TileWriter(tmp_path / "a")
    for leaf in leaves[:66_000]:
        first.append(leaf)
    first.flush()
    for leaf in leaves[66_000:66_100]:
        first.append(leaf)  # a crash tail: in the log, not in the partial tile
    resumed = TileWriter.resume(tmp_path / "a", 66_100, lambda count: leaves[66_100 - count:66_100])
    assert resumed is not None
    assert resumed.root() == merkle.root(leaves[:66_100])
    for leaf in leaves[66_100:]:
        resumed.append(leaf)
    resumed.flush()
    straight = TileWriter(tmp_path / "b")
    for leaf in leaves:
        straight.append(leaf)
    straight.flush()
    full = {f for f in _files(tmp_path / "b") if ".p" not in f}
    assert full <= _files(tmp_path / "a")
    for name in full | {"tile/0/274.p/156", "tile/1/001.p/18", "tile/2/000.p/1"}:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    # a missing full tile below a partial one: nothing to resume from
    (tmp_path / "a/tile/0/270").unlink()
    assert TileWriter.resume(tmp_path / "a", 70_300, lambda count: leaves[70_300 - count:]) is None


def test_tail_leaf_hashes_read_backwards_across_segments(tmp_path: Path) -> None:
    lines = [b'{"seq":%d,"pad":"%s"}\n' % (i, b"x" * (i % 37)) for i in range(50)]
    (tmp_path / "a").write_bytes(b"".join(lines[:20]))
    (tmp_path / "b").write_bytes(b"".join(lines[20:]))
    segments = [tmp_path / "a", tmp_path / "b"]
    for count in (0, 1, 29, 30, 31, 50):
        got = tail_leaf_hashes(segments, count, chunk=16)
        assert got == [merkle.leaf_hash(line) for line in lines[50 - count:]], count
    assert tail_leaf_hashes(segments, 51) is None
    assert list(log_leaf_hashes(segments)) == [merkle.leaf_hash(line) for line in lines]


def _chain_leaves(directory: Path) -> list[bytes]:
    return list(log_leaf_hashes(fmt.segments(directory / "chain-0")))


def test_the_writer_keeps_tiles_of_its_lines_next_to_the_checkpoints(tmp_path: Path) -> None:
    write_log(tmp_path, 600, checkpoint_every=100, max_segment_bytes=40_000)
    notes = tmp_path / "checkpoints" / "chain-0"
    leaves = _chain_leaves(tmp_path)
    assert len(fmt.segments(tmp_path / "chain-0")) > 1
    size = len(leaves)
    assert (notes / "tile/0/000").read_bytes() == b"".join(leaves[:256])
    assert (notes / "tile/0/001").read_bytes() == b"".join(leaves[256:512])
    assert (notes / f"tile/0/002.p/{size - 512}").read_bytes() == b"".join(leaves[512:])
    assert (notes / "tile/1/000.p/2").read_bytes() == merkle.root(leaves[:256]) + merkle.root(leaves[256:512])
    assert os.readlink(notes / "checkpoint") == "latest.note"
    reader = TileReader(notes)
    sizes = sorted(int(p.name.split(".")[0]) for p in notes.glob("[0-9]*.note"))
    assert len(sizes) >= 7
    for n in sizes:  # every signed checkpoint's tree is served by the tiles
        assert reader.root(n) == _signed_root(notes, n)


def test_a_restart_links_checkpoint_again_where_a_copy_left_a_file(tmp_path: Path) -> None:
    """A folder restored from a copy that followed links holds ``checkpoint`` as a file, which would go
    stale as the writer continues: the writer's next start links it to ``latest.note`` again."""
    write_log(tmp_path, 5)
    notes = tmp_path / "checkpoints" / "chain-0"
    (notes / "checkpoint").unlink()
    (notes / "checkpoint").write_bytes((notes / "latest.note").read_bytes())
    write_log(tmp_path, 3)
    assert os.readlink(notes / "checkpoint") == "latest.note"
    assert (notes / "checkpoint").read_bytes() == max(notes.glob("0*.note")).read_bytes()
    assert not (notes / ".checkpoint.link").exists()


def test_prove_reads_tiles_and_gives_the_scan_s_proofs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "audit"
    write_log(directory, 300, checkpoint_every=50)
    notes = directory / "checkpoints" / "chain-0"
    empty = tmp_path / "no-tiles"
    empty.mkdir()
    sizes = sorted(int(p.name.split(".")[0]) for p in notes.glob("[0-9]*.note"))
    old, size = sizes[2], sizes[-1]
    for argv in (["--seq", "200"], ["--seq", "0", "--size", str(old)], ["--old-size", str(old)],
                 ["--old-size", "1", "--size", str(sizes[-2])]):
        tiles, err = _prove(capsys, str(directory), *argv)
        assert err == ""
        scan, _ = _prove(capsys, str(directory), *argv, "--checkpoints", str(empty))
        assert tiles == scan
    inclusion, _ = _prove(capsys, str(directory), "--seq", "257")
    assert inclusion["size"] == size
    merkle.verify_inclusion(b64(inclusion["leaf_hash"]), 257, size, [b64(h) for h in inclusion["proof"]],
                            _signed_root(notes, size))
    assert b64(inclusion["leaf_hash"]) == _chain_leaves(directory)[257]
    consistency, _ = _prove(capsys, str(directory), "--old-size", str(old))
    merkle.verify_consistency(old, size, _signed_root(notes, old), _signed_root(notes, size),
                              [b64(h) for h in consistency["proof"]])
    # the argument checks are the same with tiles
    assert main(["audit", "prove", str(directory), "--seq", str(size)]) == 2
    assert f"seq must be 0 to {size - 1}" in capsys.readouterr().err


def test_prove_falls_back_to_the_scan_when_tiles_cannot_serve(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "audit"
    write_log(directory, 300, checkpoint_every=50)
    notes = directory / "checkpoints" / "chain-0"
    size = len(_chain_leaves(directory))
    expected, _ = _prove(capsys, str(directory), "--seq", "10")
    # a damaged leaf tile: the proof does not check against the tiles' own root
    tile = notes / "tile/0/000"
    data = bytearray(tile.read_bytes())
    data[10 * 32] ^= 1
    tile.write_bytes(bytes(data))
    got, err = _prove(capsys, str(directory), "--seq", "10")
    assert got == expected
    assert "cannot serve this proof (root does not match); reading the whole log" in err
    # damaged, but consistently: the tiles' root is not the signed checkpoint's of that size
    tile.write_bytes(b"".join(_chain_leaves(directory)[:256]))
    partial = notes / f"tile/0/001.p/{size - 256}"
    data = bytearray(partial.read_bytes())
    data[-1] ^= 1
    partial.write_bytes(bytes(data))
    got, err = _prove(capsys, str(directory), "--seq", "10")
    assert got == expected
    assert f"the checkpoint of size {size} states another root" in err
    data[-1] ^= 1
    partial.write_bytes(bytes(data))
    assert _prove(capsys, str(directory), "--seq", "10") == (expected, "")
    # records after the newest checkpoint are not in tiles yet
    with (directory / "chain-0" / "segment-000001.jsonl").open("ab") as fh:
        fh.write(b'{"seq":%d}\n' % size)
    _, err = _prove(capsys, str(directory), "--seq", "10")
    assert f"no tile tile/0/001 with {size + 1 - 256} hashes" in err


def test_a_restart_continues_the_tiles(tmp_path: Path) -> None:
    write_log(tmp_path, 200, checkpoint_every=64)
    write_log(tmp_path, 200, checkpoint_every=64)
    notes = tmp_path / "checkpoints" / "chain-0"
    leaves = _chain_leaves(tmp_path)
    assert not (notes / "tile.mismatch").exists()
    assert (notes / "tile/0/000").read_bytes() == b"".join(leaves[:256])
    reader = TileReader(notes)
    for n in sorted(int(p.name.split(".")[0]) for p in notes.glob("[0-9]*.note")):
        assert reader.root(n) == _signed_root(notes, n)


@pytest.mark.parametrize("damage", ["missing", "changed", "partial-lost"])
def test_tiles_that_do_not_reproduce_the_signed_tree_are_rebuilt(tmp_path: Path, damage: str) -> None:
    """Tiles are checked against the recovered (signed) tree at every start; a set that does not
    reproduce it is moved aside and rebuilt from the log."""
    write_log(tmp_path, 600, checkpoint_every=100)
    notes = tmp_path / "checkpoints" / "chain-0"
    if damage == "missing":
        os.rename(notes / "tile", tmp_path / "gone")
    elif damage == "changed":
        data = bytearray((notes / "tile/0/001").read_bytes())
        data[0] ^= 1
        (notes / "tile/0/001").write_bytes(bytes(data))
    else:  # a crash (power cut) lost the newest files: the full tile under the partial level-1 tile
        (notes / "tile/0/001").unlink()
    write_log(tmp_path, 10, checkpoint_every=100)
    leaves = _chain_leaves(tmp_path)
    assert (notes / "tile/0/001").read_bytes() == b"".join(leaves[256:512])
    assert (notes / "tile.mismatch").is_dir() is (damage != "missing")
    reader = TileReader(notes)
    assert reader.root(len(leaves)) == _signed_root(notes, len(leaves))


def test_open_tiles_says_what_it_did(tmp_path: Path) -> None:
    leaves_dir = tmp_path / "log"
    write_log(leaves_dir, 300, checkpoint_every=100)
    segments = fmt.segments(leaves_dir / "chain-0")
    tree = merkle.CompactTree()
    for leaf in log_leaf_hashes(segments):
        tree.append_leaf_hash(leaf)
    notes = leaves_dir / "checkpoints" / "chain-0"
    assert open_tiles(notes, tree, segments)[1] == "resumed"
    assert open_tiles(tmp_path / "fresh", tree, segments)[1] == "rebuilt"
    assert open_tiles(tmp_path / "empty", merkle.CompactTree(), [])[1] == "new"
    # a tree the log does not reproduce (its first segment removed): no tiles rather than wrong ones
    writer, how = open_tiles(tmp_path / "short", tree, segments[1:] if len(segments) > 1 else [])
    assert (writer, how) == (None, "unavailable")


def _pruned_log(tmp_path: Path) -> list[Path]:
    """A chain whose first segments retention removed (its records start after seq 0)."""
    now = [time.time()]

    def writer() -> AuditWriter:
        return AuditWriter(WriterConfig(directory=tmp_path, max_segment_bytes=3000, retention_days=30,
                                        signer=SIGNER, clock=lambda: now[0], checkpoint_interval_s=3600.0))

    first = writer()
    for i in range(60):
        first.submit("call", {"i": i, "pad": "r" * 50})
        first.flush()
    first.close()
    now[0] += 31 * 86400
    second = writer()
    for i in range(30):
        second.submit("call", {"i": 1000 + i, "pad": "r" * 50})
        second.flush()
    second.close()
    return fmt.segments(tmp_path / "chain-0")


@pytest.mark.parametrize("argv", [["--seq", "+3"], ["--old-size", "+3"], ["--seq", "-1"], ["--seq", "5"],
                                  ["--old-size", "5"]])
def test_a_pruned_chain_without_tiles_is_not_proved_from_what_remains(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """Without tiles a proof needs every leaf from seq 0; retention removed the first ones, so the
    records that remain would be numbered from 0 and proved against a root nothing signed. prove
    says so (exit 1, one line) instead of printing that proof; a seq retention removed is named."""
    segments = _pruned_log(tmp_path)
    first_seq = json.loads(segments[0].read_text().splitlines()[0])["seq"]
    assert first_seq > 3
    for tile in sorted((tmp_path / "checkpoints" / "chain-0" / "tile").rglob("*"), reverse=True):
        tile.rmdir() if tile.is_dir() else tile.unlink()
    option, value = argv
    # "5": a number the remaining records reach, so the old code printed a proof of the wrong record
    number = first_seq + int(value) if value[0] in "+-" else int(value)
    capsys.readouterr()
    code = main(["audit", "prove", str(tmp_path), option, str(number)])
    out, err = capsys.readouterr()
    assert out == ""
    lines = [line for line in err.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1, err
    if option == "--seq" and number < first_seq:
        assert code == 2
        assert f"--seq: {number} was removed by retention: chain-0 starts at seq {first_seq}" in lines[0]
    else:
        assert code == 1
        assert (f"chain-0 starts at seq {first_seq} (retention removed the records before it) and its Merkle "
                "tiles cannot serve this proof") in lines[0]


def test_tiles_outlive_retention_and_prove_what_remains(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Retention removes old segments, not their hashes: the tiles still prove a remaining record
    at its true index, against the signed root (reading what remains would number it from 0)."""
    segments = _pruned_log(tmp_path)
    first_seq = json.loads(segments[0].read_text().splitlines()[0])["seq"]
    assert first_seq > 0
    notes = tmp_path / "checkpoints" / "chain-0"
    size = int((notes / "latest.note").read_text().split("\n")[1])
    seq = first_seq + 3
    proof, err = _prove(capsys, str(tmp_path), "--seq", str(seq))
    assert err == ""
    assert proof["size"] == size
    line = segments[0].read_bytes().splitlines(keepends=True)[3]
    assert json.loads(line)["seq"] == seq
    merkle.verify_inclusion(merkle.leaf_hash(line), seq, size, [b64(h) for h in proof["proof"]],
                            _signed_root(notes, size))
