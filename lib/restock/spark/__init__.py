"""The Spark side: the bucket engine that runs pandas kernels per group of series."""
