"""The merging process keeps large buffers in mappings of their own and hands the heap's free
pages back to the system between chunks."""

from fupin_registry.imports import memory


class FakeLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...]]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append(("mallopt", (parameter, value)))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", (pad,)))
        return 1


def test_the_threshold_is_fixed_and_the_heap_trimmed(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(memory, "_libc", lambda: libc)
    assert memory.return_large_buffers() is True
    assert memory.return_free_pages() is True
    assert libc.calls == [
        ("mallopt", (memory.M_MMAP_THRESHOLD, 128 * 1024)),
        ("malloc_trim", (0,)),
    ]


def test_a_c_library_without_them_is_left_as_it_is(monkeypatch):
    monkeypatch.setattr(memory, "_libc", lambda: object())
    assert memory.return_large_buffers() is False
    assert memory.return_free_pages() is False


def test_this_machines_c_library_takes_both():
    assert memory.return_large_buffers() is True
    assert memory.return_free_pages() is True
