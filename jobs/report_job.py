"""spark-submit entry point: `restock report` (flags as for the CLI)."""

import sys

from restock.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["report", *sys.argv[1:]]))
