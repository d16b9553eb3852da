"""`appliance demo` and the fictional corpus it ingests."""
