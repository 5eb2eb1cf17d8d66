"""The interactive mailbox (`mailops tui`), installed as `mailops.tui`.

Textual only; every store access goes through the engine (`mailops.store`,
`mailops.view`, `mailops.trash`): no SQL here. See docs/tui.md.
"""
