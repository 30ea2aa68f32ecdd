// Package bench measures fluxrelay against the physical limits of the
// machine it runs on, in one run on one disk, so that the figures are
// ratios that carry over between machines. Run with `make bench`; the
// figures are kept in BENCHMARKS.md.
package bench
