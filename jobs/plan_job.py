"""spark-submit entry point: `restock plan` (flags as for the CLI)."""

import sys

from restock.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["plan", *sys.argv[1:]]))
