"""Every benchmark, with its data sets, scoring and naive baselines. Nothing in the product imports it."""
