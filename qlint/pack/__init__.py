"""Rule packs: QEMU's locking and event-loop knowledge as data (rules/*.toml, and the tables of
a user's configuration), used by the analysis, the rules and the runtime checker.

  matcher.py   function matchers (acquire = ["aio_context_acquire(*)", "macro:..."])
  model.py     the entries, as plain data
  schema.py    the tables: keys, types, defaults, references, the entries they make
  rulepack.py  RulePack, the merged entries, and which are active in a tree
  load.py      reading and checking pack files and configurations
"""
