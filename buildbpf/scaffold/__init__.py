"""`buildbpf init`: scaffold an Aya workspace from `templates/`.

init (the entry point: validate, render, plan, write) uses names (project and function
names), dependencies (names that clash with the workspace's dependencies), program_types
(one folder per type under templates/programs/, with option_rules), render (jinja2, through
literals' escaping filters), plan (what happens to each file) and write (all or nothing).
"""
