package store_test

import (
	"errors"
	"os"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func writeGarbage(path string) error {
	return os.WriteFile(path, []byte("this is not a badger manifest, it is garbage"), 0o600)
}

func statDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
