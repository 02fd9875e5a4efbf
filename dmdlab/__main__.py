from dmdlab.cli import main

raise SystemExit(main())
