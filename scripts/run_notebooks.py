#!/usr/bin/env python3
"""Executes every notebook in notebooks/ with nbclient; a cell error fails it.

Prints one line per notebook and a closing "N passed, N failed" line.
Each notebook's kernel gets a temporary directory of its own as TMPDIR,
removed afterwards: the notebooks write their working files under
tempfile.mkdtemp(), and 64 MB a run had piled up in /tmp.
"""
import os
import pathlib
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

root = pathlib.Path(__file__).resolve().parent.parent
passed = failed = 0
for path in sorted((root / "notebooks").glob("*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="op25b-notebook-run-") as tmp:
        client = NotebookClient(nb, timeout=900, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute(env={**os.environ, "TMPDIR": tmp})
        except Exception as e:  # a failing cell: report and go on to the next notebook
            failed += 1
            print(f"FAILED {path.name}: {str(e)[-2000:]}")
        else:
            passed += 1
            print(f"ok {path.name}")
print(f"notebooks: {passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
