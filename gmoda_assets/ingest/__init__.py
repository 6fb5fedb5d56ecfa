"""Partner drops to raw: contracts, loaders, checks, sensors and the jobs that ingest drops."""
