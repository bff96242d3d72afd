"""spark-submit entry point: `restock run` (flags as for the CLI)."""

import sys

from restock.app.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
