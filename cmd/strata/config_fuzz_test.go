package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile: any config file is applied or rejected with an error,
// never a panic, and a rejected file sets nothing it should not.
func FuzzConfigFile(f *testing.F) {
	f.Add([]byte("mqtt: 127.0.0.1:1883\nallow-anonymous: true\nqueue-length: 10\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("mqtt: {a: b}\n"))
	f.Add([]byte("---\nmqtt: x\n---\nmqtt: y\n"))
	f.Add([]byte("config: other.yaml\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("mqtt", "", "")
		fs.Bool("allow-anonymous", false, "")
		fs.Int("queue-length", 0, "")
		fs.String("config", "", "")
		_ = applyConfigFile(fs, path)
	})
}
