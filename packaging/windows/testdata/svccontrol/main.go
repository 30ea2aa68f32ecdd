//go:build windows

// Command svccontrol sends a service a control request, as
// `sc control NAME paramchange` does on Windows: wine's sc has no control
// command. The test of the Windows service builds it.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

func main() {
	if len(os.Args) != 3 || os.Args[2] != "paramchange" {
		fmt.Fprintln(os.Stderr, "usage: svccontrol NAME paramchange")
		os.Exit(2)
	}
	m, err := mgr.Connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer m.Disconnect()
	s, err := m.OpenService(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	st, err := s.Control(svc.ParamChange)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("state %d, accepts %#x\n", st.State, st.Accepts)
}
