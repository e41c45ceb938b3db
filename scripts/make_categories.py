"""Write the procedural object categories as mesh collections: a training and a test folder per category.

    python scripts/make_categories.py --out collections/ --train 40 --test 8

writes ``OUT/<category>/train/`` (seeds 0 .. N-1) and ``OUT/<category>/test/`` (seeds from
``TEST_FIRST_SEED``), so the two never share an instance. A training folder is what
``scripts/train_prior.py --data`` takes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neurep_addon.tasks.categories import (CATEGORIES, MESH_FORMATS, TEST_FIRST_SEED,  # noqa: E402
                                           write_collection)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for OUT/<category>/{train,test}/")
    parser.add_argument("--train", type=int, default=40, help="training instances per category (default 40)")
    parser.add_argument("--test", type=int, default=8, help="test instances per category (default 8)")
    parser.add_argument("--categories", nargs="+", default=list(CATEGORIES), choices=list(CATEGORIES),
                        help="categories to write (default: all)")
    parser.add_argument("--format", default="obj", choices=MESH_FORMATS, help="mesh file format (default obj)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.train >= TEST_FIRST_SEED:
        print(f"error: --train {args.train} would reach the test seeds (from {TEST_FIRST_SEED})", file=sys.stderr)
        return 2
    for category in args.categories:
        for split, count, first in (("train", args.train, 0), ("test", args.test, TEST_FIRST_SEED)):
            if count > 0:
                paths = write_collection(category, Path(args.out) / category / split, count, first, args.format)
                print(f"{category}/{split}: {len(paths)} meshes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
