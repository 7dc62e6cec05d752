"""`buildbpf init`: scaffold an Aya workspace from `templates/`.

`init.run` is the entry point: names (the project's and the eBPF function's), dependencies
(names that clash with the workspace's packages), program_types (one folder per type under
templates/programs/, its type.toml checked by _type_file against option_rules), render
(jinja2, values only through the literals filters), plan (what happens to each file) and
write (all or nothing).
"""
