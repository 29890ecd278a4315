"""Export and import of a big history (issue 13), each beside SQLite doing the same plainly.

A history of 1,000,000 messages (alice's chat with bob, :mod:`tests.history_fill`) is
exported by ``chinwag-cli export`` to JSON lines, text and HTML, each in a process of its own
whose wall time and peak resident memory (``wait4``) are read; beside them, a process that
only SELECTs every row in storage order and writes it, tab-separated, to ``/dev/null`` (what
the history file gives without chinwag). Then ``chinwag-cli import`` reads the JSON-lines
export into an empty history, beside a process that copies the same rows from the history
file into an empty one with one plain ``executemany`` (what SQLite takes to store them; the
import also checks each line, skips ids stored already, writes deliveries and the search index).
Rates are messages/s, including each process's start (about 0.5 s). Measured once on 2 cores:
export 113,000/s (JSON lines), 128,000/s (text), 92,000/s (HTML) beside 453,000/s for the
plain SELECT, each at a 66 MiB peak (42 MiB for the SELECT); import 33,000/s (69 MiB) beside
142,000/s.

With ``--browser``, the HTML export is also opened by Debian's headless chromium
(``--dump-dom``): its time, the peak of all its processes' resident memory together, and a
check of the DOM it built (every message once and in order, no element or script from a body).
About 10 minutes and 12.5 GB for a million messages here (592 s measured once), so not part of
``make bench``.

Run: ``python benchmarks/bench_data.py [--messages 1000000] [--browser]``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.history_fill import Measured, bulk_fill, give_identity, measure

ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")},
    "CHINWAG_LOG_LEVEL": "WARNING",
}
MIB = 1 << 20

_SELECT_ALL = """
import sqlite3, sys
columns = ("seq, id, conversation_id, sender, recipient, body, sent_at, state, reason,"
           " received_at, group_id, stamp_seq, stamp_version, stamp_signature, file")
connection = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
with open("/dev/null", "w", encoding="utf-8") as out:
    for row in connection.execute(f"SELECT {columns} FROM messages ORDER BY seq"):
        out.write("\\t".join(map(str, row)) + "\\n")
"""

_COPY_ROWS = """
import sqlite3, sys
from chinwag.adapters.sqlite.database import Database
Database(sys.argv[2]).close()
columns = ("id, conversation_id, sender, recipient, body, sent_at, state, reason,"
           " received_at, group_id, stamp_seq, stamp_version, stamp_signature, file")
source = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
with sqlite3.connect(sys.argv[2]) as target:
    target.executemany(
        f"INSERT INTO messages ({columns}) VALUES ({', '.join('?' * 14)})",
        source.execute(f"SELECT {columns} FROM messages ORDER BY seq"),
    )
"""


def cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "chinwag.entrypoints.cli", *argv]


def line(what: str, messages: int, done: Measured) -> str:
    return (
        f"  {what:<34} {messages / done.seconds:>9,.0f} msgs/s  "
        f"peak {done.peak_bytes / MIB:>6.1f} MiB  ({done.seconds:.1f} s)"
    )


def render(page: Path, count: int) -> None:
    """Open ``page`` in headless chromium, print its time and peak memory, check its DOM."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("  chromium: not installed (apt-get install chromium)")
        return
    dom = page.with_suffix(".dom")
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()]
    peak, began = 0, time.perf_counter()
    with dom.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL)
        while proc.poll() is None:  # every chromium process, sampled once a second
            sizes = subprocess.run(["ps", "-C", "chromium", "-o", "rss="], capture_output=True)
            peak = max(peak, sum(int(kb) for kb in sizes.stdout.split()) * 1024)
            time.sleep(1)
    seconds = time.perf_counter() - began
    text = dom.read_text(encoding="utf-8")
    ids = [int(found.replace("-", ""), 16) for found in re.findall(r'id="m-([0-9a-f-]+)"', text)]
    whole = ids == list(range(1, count + 1)) and "<script" not in text and "<img" not in text
    print(
        f"  chromium --dump-dom of the HTML       {seconds:>9,.0f} s       "
        f"peak {peak / MIB:>8,.0f} MiB  (all {len(ids):,} messages in order, nothing run: "
        f"{'yes' if whole else 'NO'})"
    )
    dom.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--browser", action="store_true", help="open the HTML in chromium")
    args = parser.parse_args()
    count = args.messages
    with tempfile.TemporaryDirectory(prefix="chinwag-bench-data-") as folder:
        data = Path(folder) / "data"
        history = data / "user-alice" / "history.sqlite3"
        began = time.perf_counter()
        bulk_fill(history, count)
        print(f"history of {count:,} messages written in {time.perf_counter() - began:.1f} s")
        print(f"export of {count:,} messages (a process each)")
        reference = measure([sys.executable, "-c", _SELECT_ALL, str(history)], ENV)
        print(line("plain SELECT to /dev/null", count, reference))
        jsonl = Path(folder) / "all.jsonl"
        for kind in ("jsonl", "txt", "html"):
            out = jsonl if kind == "jsonl" else Path(folder) / f"all.{kind}"
            done = measure(cli("export", "--user", "alice", "--data-dir", str(data), str(out)), ENV)
            size = out.stat().st_size
            print(line(f"chinwag-cli export {kind} ({size / MIB:,.0f} MiB)", count, done))
            if kind == "html" and args.browser:
                render(out, count)
            if out != jsonl:
                out.unlink()
        print("import of the JSON-lines export into an empty history")
        copy = Path(folder) / "copy.sqlite3"
        reference = measure([sys.executable, "-c", _COPY_ROWS, str(history), str(copy)], ENV)
        print(line("plain executemany of the rows", count, reference))
        fresh = Path(folder) / "fresh"
        give_identity(fresh)  # import needs a user who signed in once
        done = measure(cli("import", "--user", "alice", "--data-dir", str(fresh), str(jsonl)), ENV)
        print(line("chinwag-cli import", count, done))


if __name__ == "__main__":
    main()
