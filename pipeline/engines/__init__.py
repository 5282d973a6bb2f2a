"""The engines: run a job's work items here (``local``) or on a Ray cluster (``ray``) and collect results."""
