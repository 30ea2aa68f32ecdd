package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
)

// forwarderDLL builds a minimal 64-bit Windows DLL named name that holds no
// code, only exports each forwarded to another DLL's function ("dll.Func").
// Wine 8 has no bcryptprimitives.dll, which every Go ≥ 1.24 program loads at
// start for ProcessPrng; a DLL whose ProcessPrng forwards to advapi32's
// RtlGenRandom (SystemFunction036) stands in for it. Both take a buffer and
// its length and return non-zero on success, which is all Go checks.
//
// The layout is the Portable Executable format's smallest useful shape: the
// DOS header, the PE headers with one data directory (exports), and one
// read-only section holding the export directory, its tables and strings.
func forwarderDLL(name string, forwards map[string]string) []byte {
	const (
		fileAlign = 0x200
		sectAlign = 0x1000
		sectRVA   = 0x1000
		headers   = 0x200 // DOS header, PE signature, file and optional headers, one section header
	)
	names := make([]string, 0, len(forwards))
	for n := range forwards {
		names = append(names, n)
	}
	sort.Strings(names) // the loader binary-searches the name table

	// The export section: directory (40 bytes), then the address, name and
	// ordinal tables, then the strings they point at.
	n := len(names)
	dirSize := 40
	eat := dirSize
	npt := eat + 4*n
	ot := npt + 4*n
	strs := ot + 2*n
	var strBuf bytes.Buffer
	at := func(s string) uint32 { // RVA of s, added to the strings
		off := uint32(sectRVA + strs + strBuf.Len())
		strBuf.WriteString(s)
		strBuf.WriteByte(0)
		return off
	}
	nameRVA := at(name)
	eatVals := make([]uint32, n)
	nptVals := make([]uint32, n)
	for i, fn := range names {
		nptVals[i] = at(fn)
		eatVals[i] = at(forwards[fn]) // inside the export directory's range: a forwarder
	}
	sect := new(bytes.Buffer)
	le := func(v any) { _ = binary.Write(sect, binary.LittleEndian, v) }
	le(struct {
		Characteristics, TimeDateStamp       uint32
		MajorVersion, MinorVersion           uint16
		Name, Base, NumberOfFunctions, Names uint32
		AddressOfFunctions, AddressOfNames   uint32
		AddressOfNameOrdinals                uint32
	}{Name: nameRVA, Base: 1, NumberOfFunctions: uint32(n), Names: uint32(n),
		AddressOfFunctions: uint32(sectRVA + eat), AddressOfNames: uint32(sectRVA + npt), AddressOfNameOrdinals: uint32(sectRVA + ot)})
	le(eatVals)
	le(nptVals)
	for i := range names {
		le(uint16(i))
	}
	sect.Write(strBuf.Bytes())
	exportSize := sect.Len()
	raw := align(exportSize, fileAlign)
	sect.Write(make([]byte, raw-exportSize))

	out := new(bytes.Buffer)
	w := func(v any) { _ = binary.Write(out, binary.LittleEndian, v) }
	dos := make([]byte, 0x40)
	copy(dos, "MZ")
	binary.LittleEndian.PutUint32(dos[0x3c:], 0x40) // e_lfanew
	out.Write(dos)
	out.WriteString("PE\x00\x00")
	w(struct {
		Machine, NumberOfSections                  uint16
		TimeDateStamp, SymbolTable, NumberOfSymbol uint32
		SizeOfOptionalHeader, Characteristics      uint16
	}{Machine: 0x8664, NumberOfSections: 1, SizeOfOptionalHeader: 240,
		Characteristics: 0x0002 | 0x0020 | 0x2000}) // executable image, large address aware, DLL
	w(optionalHeader{
		Magic: 0x20b, MajorLinkerVersion: 14, SizeOfInitializedData: uint32(raw), BaseOfCode: sectRVA,
		ImageBase: 0x180000000, SectionAlignment: sectAlign, FileAlignment: fileAlign,
		MajorOperatingSystemVersion: 6, MajorSubsystemVersion: 6,
		SizeOfImage: uint32(sectRVA + align(exportSize, sectAlign)), SizeOfHeaders: headers,
		Subsystem: 3, DllCharacteristics: 0x0100, // NX compatible
		SizeOfStackReserve: 0x100000, SizeOfStackCommit: 0x1000, SizeOfHeapReserve: 0x100000, SizeOfHeapCommit: 0x1000,
		NumberOfRvaAndSizes: 16,
		Export:              [2]uint32{sectRVA, uint32(exportSize)},
	})
	var sname [8]byte
	copy(sname[:], ".rdata")
	w(struct {
		Name                                       [8]byte
		VirtualSize, VirtualAddress                uint32
		SizeOfRawData, PointerToRawData            uint32
		PointerToRelocations, PointerToLinenumbers uint32
		NumberOfRelocations, NumberOfLinenumbers   uint16
		Characteristics                            uint32
	}{Name: sname, VirtualSize: uint32(exportSize), VirtualAddress: sectRVA, SizeOfRawData: uint32(raw),
		PointerToRawData: headers, Characteristics: 0x40000040}) // initialized data, readable
	if out.Len() > headers {
		panic(fmt.Sprintf("PE headers take %d bytes, more than %d", out.Len(), headers))
	}
	out.Write(make([]byte, headers-out.Len()))
	out.Write(sect.Bytes())
	return out.Bytes()
}

// optionalHeader is IMAGE_OPTIONAL_HEADER64 with its 16 data directories,
// of which only the first (exports) is used.
type optionalHeader struct {
	Magic                                                    uint16
	MajorLinkerVersion, MinorLinkerVersion                   uint8
	SizeOfCode, SizeOfInitializedData, SizeOfUninitialized   uint32
	AddressOfEntryPoint, BaseOfCode                          uint32
	ImageBase                                                uint64
	SectionAlignment, FileAlignment                          uint32
	MajorOperatingSystemVersion, MinorOperatingSystemVersion uint16
	MajorImageVersion, MinorImageVersion                     uint16
	MajorSubsystemVersion, MinorSubsystemVersion             uint16
	Win32VersionValue, SizeOfImage, SizeOfHeaders, CheckSum  uint32
	Subsystem, DllCharacteristics                            uint16
	SizeOfStackReserve, SizeOfStackCommit                    uint64
	SizeOfHeapReserve, SizeOfHeapCommit                      uint64
	LoaderFlags, NumberOfRvaAndSizes                         uint32
	Export                                                   [2]uint32
	Others                                                   [15][2]uint32
}

func align(n, to int) int { return (n + to - 1) / to * to }
