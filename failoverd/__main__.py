"""`python -m failoverd` is the same as the `failoverd` console script."""

from failoverd.app.cli import main

raise SystemExit(main())
