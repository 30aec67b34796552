"""Turn a jupytext percent-format script into a clean source notebook (no outputs, python3 kernel).

    python scripts/py2nb.py draft.py notebooks/NN_name.ipynb
"""

import sys

import jupytext
import nbformat

source, target = sys.argv[1], sys.argv[2]
nb = jupytext.read(source)
nb.metadata = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}
for cell in nb.cells:
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
nbformat.write(nb, target)
print(f"wrote {target}")
