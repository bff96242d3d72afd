"""spark-submit entry point: `restock profile` (flags as for the CLI)."""

import sys

from restock.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["profile", *sys.argv[1:]]))
