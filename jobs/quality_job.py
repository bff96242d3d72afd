"""spark-submit entry point: `restock quality` (flags as for the CLI)."""

import sys

from restock.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["quality", *sys.argv[1:]]))
