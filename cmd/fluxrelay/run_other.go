//go:build !unix

package main

// restrictFiles does nothing where there is no umask: on Windows the data
// folder's access list, set by the installer, guards the queue.
func restrictFiles(string) error { return nil }
