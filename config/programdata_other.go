//go:build !windows

package config

// programData is only asked for on Windows.
func programData() string { return `C:\ProgramData` }
