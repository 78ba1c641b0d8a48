"""Contracts the analysed tree states or shows: which function needs which lock or context.

Four kinds of evidence, each its own module: comments above declarations (written.py),
assertions at the top of bodies (asserted.py), a caller's lock a function drops and takes
again (released.py), and the lock state at a function's call sites (observed.py; both after
Engler et al., "Bugs as Deviant Behavior", SOSP 2001). Each makes pack
entries ([[requires]], [[excludes]], [[inside]]) that carry their evidence; contracts.py merges
them with the packs (the shipped and the user's entries win) and the configuration's choices.
"""
