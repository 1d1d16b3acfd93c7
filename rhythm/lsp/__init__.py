"""``rhythm lsp``: the .flow language server (extra ``rhythm[lsp]``, on pygls).

This package owns editor support: :mod:`rhythm.lsp.analysis` answers hover, completion,
definition, symbols and rename from the front end's tree and scope resolution (pure
functions, no LSP types); :mod:`rhythm.lsp.project` knows the project around a document
(its task modules, its sibling workflows); :mod:`rhythm.lsp.server` speaks the protocol.
Diagnostics come from the same checker as ``rhythm check``. Build side only: it imports
the front end, never psycopg, and a worker never imports it. Importing this package
imports nothing else; pygls is loaded by :mod:`rhythm.lsp.server` alone.
"""
