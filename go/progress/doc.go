// Package progress prints the progress of long work for a person at a
// terminal: one line per task, rewritten in place with carriage returns,
// such as
//
//	building runtime glibc2.36: 12 of 40 packages
//	extracting the embedded runtimes: 42% of 310 MiB
//
// and a final line once the task ends:
//
//	extracting the embedded runtimes: done in 4.2s (310 MiB)
//
// A Reporter writes only to the writer it is given, which callers take from
// Terminal: a log file, a pipe or a CI log gets nothing, because carriage
// returns make them unreadable. A nil writer (or a nil *Reporter) makes
// every method a no-op. Leaf packages do not import this one: they take a
// callback or a small interface that a Reporter satisfies.
package progress
