"""spark-submit entry point: `restock simulate` (flags as for the CLI)."""

import sys

from restock.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["simulate", *sys.argv[1:]]))
