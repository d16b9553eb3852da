"""`python -m appliance.cli.main`: the same entry point as the `appliance` console script."""

from appliance.cli.main import main

raise SystemExit(main())
