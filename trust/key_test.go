package trust

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFileRoundTripAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := WriteNewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	k, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if k == (Key{}) {
		t.Fatal("an all-zero key")
	}
	if s := k.String(); strings.Contains(s, base64.StdEncoding.EncodeToString(k[:])) || strings.Contains(s, hex.EncodeToString(k[:])) {
		t.Fatalf("Key.String shows the key: %q", s)
	}
}

func TestWriteNewKeyFileRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := WriteNewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := WriteNewKeyFile(path)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second keygen: %v, want a refusal", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the existing key was changed")
	}
}

func TestParseKeyForms(t *testing.T) {
	var want Key
	for i := range want {
		want[i] = byte(i * 7)
	}
	for name, text := range map[string]string{
		"base64":          base64.StdEncoding.EncodeToString(want[:]) + "\n",
		"base64 unpadded": "  " + base64.RawStdEncoding.EncodeToString(want[:]) + "\r\n",
		"hex":             hex.EncodeToString(want[:]),
		"HEX":             strings.ToUpper(hex.EncodeToString(want[:])) + "\n",
	} {
		got, err := ParseKey([]byte(text))
		if err != nil || got != want {
			t.Errorf("%s: %v, %v", name, got == want, err)
		}
	}
}

func TestParseKeyRejectsBadFilesWithoutQuotingThem(t *testing.T) {
	secretish := "c2VjcmV0LXNlY3JldC1zZWNyZXQ"
	for name, text := range map[string]string{
		"empty":       "",
		"blank":       " \n\t",
		"short":       base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"long":        base64.StdEncoding.EncodeToString(make([]byte, 40)),
		"two lines":   base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n" + secretish,
		"not base64":  secretish + "!!",
		"hex too few": hex.EncodeToString(make([]byte, 31)),
	} {
		_, err := ParseKey([]byte(text))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secretish) {
			t.Errorf("%s: the error quotes the file: %v", name, err)
		}
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file was accepted")
	}
}

// FuzzParseKey: any text is a key or an error, never a panic, and an
// accepted text re-encodes to a text that parses to the same key.
func FuzzParseKey(f *testing.F) {
	f.Add([]byte(base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"))
	f.Add([]byte(hex.EncodeToString(make([]byte, 32))))
	f.Add([]byte("\n\n"))
	f.Add([]byte("zz"))
	f.Fuzz(func(t *testing.T, text []byte) {
		k, err := ParseKey(text)
		if err != nil {
			return
		}
		again, err := ParseKey([]byte(hex.EncodeToString(k[:])))
		if err != nil || again != k {
			t.Fatalf("re-encoded key: %v", err)
		}
	})
}
