"""Executors: run jobs on real engines (local processes, Slurm, Ray, Kubernetes) behind one seam."""
