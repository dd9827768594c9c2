"""What the operator and the client share: the contract (names, rules, ports), the kr8s classes of
the Dask custom resources, bounded list+watch, and the rewrite of removed Dask commands."""
