"""`check` names map types by the kernel's enum bpf_map_type."""

from __future__ import annotations

from buildbpf.objects.facts import MAP_TYPES


def test_map_type_numbers_follow_the_kernel_enum() -> None:
    # include/uapi/linux/bpf.h: ... BPF_MAP_TYPE_QUEUE = 22, STACK = 23, DEVMAP_HASH = 25, RINGBUF = 27
    assert (MAP_TYPES[22], MAP_TYPES[23], MAP_TYPES[25], MAP_TYPES[27]) == (
        "queue", "stack", "devmap_hash", "ringbuf"
    )  # fmt: skip
