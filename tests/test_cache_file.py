"""The caches' shared key and atomic write (models/cache_file.py)."""
import os

from models.cache_file import content_key, liberty_digest, write_atomic

LIBERTY = b"library(x){}\n"


def test_key_is_the_recipe_the_caches_were_written_with():
    # synthesize_verilog's key for these fields on main at 82e9065, before the recipe moved here
    # (sha256 over the NUL-joined fields, 24 hex digits): every synthesis, STA and flattening
    # cache file on disk is named by it, so it must not change
    fields = ["module t(); endmodule\n", "t", "5", "debian", "0.23", liberty_digest(LIBERTY), ""]
    assert content_key(fields) == "a8e98dc476df56238b5f21b5"


def test_key_separates_fields():
    assert content_key(["ab", "c"]) != content_key(["a", "bc"])
    assert content_key(["a", b"b"]) == content_key([b"a", "b"])


def test_write_atomic_creates_the_folder_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "deep" / "entry.net.v"
    write_atomic(path, "one")
    write_atomic(path, "two")
    assert path.read_text() == "two"
    assert os.listdir(path.parent) == ["entry.net.v"]
