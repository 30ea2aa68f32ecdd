package main

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"testing"
)

// TestForwarderDLL reads the stand-in DLL back as a PE file: a 64-bit DLL
// named bcryptprimitives.dll whose one export, ProcessPrng, forwards to
// advapi32's SystemFunction036.
func TestForwarderDLL(t *testing.T) {
	b := forwarderDLL("bcryptprimitives.dll", map[string]string{"ProcessPrng": "advapi32.SystemFunction036"})
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || f.Characteristics&pe.IMAGE_FILE_DLL == 0 {
		t.Fatalf("machine %#x, characteristics %#x: want an amd64 DLL", f.Machine, f.Characteristics)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		t.Fatal("not PE32+")
	}
	dir := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_EXPORT]
	sect := f.Sections[0]
	data, err := sect.Data()
	if err != nil {
		t.Fatal(err)
	}
	at := func(rva uint32) []byte { return data[rva-sect.VirtualAddress:] }
	str := func(rva uint32) string { s := at(rva); return string(s[:bytes.IndexByte(s, 0)]) }
	u32 := func(rva uint32) uint32 { return binary.LittleEndian.Uint32(at(rva)) }
	if got := str(u32(dir.VirtualAddress + 12)); got != "bcryptprimitives.dll" {
		t.Errorf("the DLL calls itself %q", got)
	}
	if n := u32(dir.VirtualAddress + 24); n != 1 {
		t.Fatalf("%d names exported; want 1", n)
	}
	names, funcs := u32(dir.VirtualAddress+32), u32(dir.VirtualAddress+28)
	if got := str(u32(names)); got != "ProcessPrng" {
		t.Errorf("exports %q", got)
	}
	fn := u32(funcs)
	if fn < dir.VirtualAddress || fn >= dir.VirtualAddress+dir.Size {
		t.Fatalf("ProcessPrng points at %#x, outside the export directory: code, not a forwarder", fn)
	}
	if got := str(fn); got != "advapi32.SystemFunction036" {
		t.Errorf("ProcessPrng forwards to %q", got)
	}
}
