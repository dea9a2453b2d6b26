//! Benchmarks live in `benches/`, load scripts beside them; see README.md.
