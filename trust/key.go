package trust

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// KeySize is the length of a cluster key in bytes.
const KeySize = 32

// Key is a cluster's shared secret. Its String never shows it, so that a
// key cannot reach a log by accident.
type Key [KeySize]byte

func (Key) String() string { return "[cluster key]" }

// GenerateKey draws a new cluster key from crypto/rand.
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("trust: generate a cluster key: %w", err)
	}
	return k, nil
}

// WriteNewKeyFile writes a new key to path as one line of base64, mode
// 0600. It refuses to overwrite an existing file: replacing a cluster's
// key by mistake cuts the node off from its peers.
func WriteNewKeyFile(path string) error {
	k, err := GenerateKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("trust: %s already exists; not overwriting a cluster key (remove it first to replace it)", path)
	}
	if err != nil {
		return fmt.Errorf("trust: create the key file: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("trust: write the key file %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile reads a key file written by WriteNewKeyFile (or by hand:
// see ParseKey).
func LoadKeyFile(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("trust: read the cluster key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return Key{}, fmt.Errorf("trust: cluster key file %s: %w", path, err)
	}
	return k, nil
}

// ParseKey decodes a key file's text: one line holding 32 bytes as
// standard base64 (padded or not) or as 64 hex digits, surrounding
// white space ignored. Errors never quote the text (it may be a secret).
func ParseKey(text []byte) (Key, error) {
	s := bytes.TrimSpace(text)
	if len(s) == 0 {
		return Key{}, errors.New("empty: expected one line of base64 or hex (strata cluster keygen writes one)")
	}
	if bytes.ContainsAny(s, "\r\n") {
		return Key{}, errors.New("more than one line: expected one line of base64 or hex")
	}
	var k Key
	if len(s) == 2*KeySize {
		if _, err := hex.Decode(k[:], s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(string(s)); err == nil {
			if len(b) != KeySize {
				return Key{}, fmt.Errorf("holds %d bytes, want %d", len(b), KeySize)
			}
			copy(k[:], b)
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("neither %d bytes of base64 nor %d hex digits", KeySize, 2*KeySize)
}
