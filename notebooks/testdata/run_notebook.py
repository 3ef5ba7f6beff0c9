#!/usr/bin/python3
"""Executes a GoNB notebook headless with nbclient and saves it, even when a cell fails.

usage: run_notebook.py IN.ipynb OUT.ipynb [--args "--budget=tiny ..."] [--timeout SECONDS]

--args replaces the arguments of the first `%%` line (the notebook's parameters). Exit status:
0 when every cell ran without error, 1 when a cell failed (its error is printed), 2 on usage
errors. Each cell's wall time is printed, and the saved notebook holds every output.
"""
import argparse
import re
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--args", default=None)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--cwd", default=None)
    a = ap.parse_args()

    nb = nbformat.read(a.src, as_version=4)
    if a.args is not None:
        done = False
        for c in nb.cells:
            if c.cell_type != "code":
                continue
            lines = c.source.split("\n")
            for i, l in enumerate(lines):
                if re.match(r"^%%(\s|$)", l):
                    lines[i] = "%% " + a.args
                    done = True
                    break
            if done:
                c.source = "\n".join(lines)
                break
        if not done:
            print("run_notebook: no %% line to put the arguments on", file=sys.stderr)
            return 2

    client = NotebookClient(nb, timeout=a.timeout, kernel_name="gonb", allow_errors=False,
                            resources={"metadata": {"path": a.cwd or "."}})
    failed = None
    t_all = time.time()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.time()
            try:
                client.execute_cell(cell, i)
            except (CellExecutionError, CellTimeoutError) as e:
                failed = (i, e)
            print(f"cell {i}: {time.time() - t0:.1f} s", flush=True)
            if failed:
                break
    print(f"total: {time.time() - t_all:.1f} s", flush=True)
    nbformat.write(nb, a.dst)
    if failed:
        i, e = failed
        print(f"run_notebook: cell {i} failed: {str(e)[-4000:]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
