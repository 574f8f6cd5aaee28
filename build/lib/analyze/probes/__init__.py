"""Circuit probes of the seed papers, one module per family, listed in ``registry``; ``runner.run_probes`` applies
them to any model."""
