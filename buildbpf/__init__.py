"""buildbpf: build Rust eBPF (Aya) workspaces without a hand-written xtask."""

__version__ = "0.1.0"
