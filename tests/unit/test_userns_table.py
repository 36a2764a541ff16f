"""The user namespace table (security/userns.py Allocator) is written only
when a range is taken or given back: removing a container that had none
leaves the file as it was."""
import os

from pycontainer.security.userns import Allocator


def test_the_table_is_written_only_when_it_changes(tmp_path):
    table = Allocator(str(tmp_path), base=100000, size=65536, slots=4)
    table.release("never-had-one")
    assert not os.path.exists(table.path)
    first = table.allocate("a")
    assert table.allocate("a") == first and table.allocate("b") == first + 65536
    before = os.stat(table.path)
    table.release("never-had-one")
    assert os.stat(table.path).st_ino == before.st_ino     # not replaced
    table.release("a")
    assert os.stat(table.path).st_ino != before.st_ino
    assert table.allocate("c") == first                     # "a"'s range is free again
