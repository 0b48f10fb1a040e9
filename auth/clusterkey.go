package auth

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// ClusterKeySize is the length of the cluster secret in bytes.
const ClusterKeySize = 32

// LoadClusterKey reads the cluster secret written by `strata cluster keygen`:
// one line holding 32 bytes as hex (64 digits) or base64 (standard or URL
// alphabet, padded or not). Errors name the file, never its contents.
func LoadClusterKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cluster key: %w", err)
	}
	key, err := ParseClusterKey(data)
	if err != nil {
		return nil, fmt.Errorf("cluster key %s: %w", path, err)
	}
	return key, nil
}

// ParseClusterKey decodes the contents of a cluster key file.
func ParseClusterKey(data []byte) ([]byte, error) {
	text := string(bytes.TrimSpace(data))
	if text == "" {
		return nil, errors.New("empty file")
	}
	if len(text) == 2*ClusterKeySize {
		if key, err := hex.DecodeString(text); err == nil {
			return key, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(text); err == nil {
			if len(key) != ClusterKeySize {
				return nil, fmt.Errorf("%d bytes of key, want %d", len(key), ClusterKeySize)
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("not %d bytes in hex or base64 on one line", ClusterKeySize)
}

// deriveKey derives a key for one purpose from the cluster secret (HKDF-SHA256
// with the purpose as info), so that the tokens' signing key and the
// transport's keys differ although one file holds the secret of both.
func deriveKey(secret []byte, purpose string) ([]byte, error) {
	if len(secret) < ClusterKeySize {
		return nil, fmt.Errorf("cluster secret of %d bytes, want at least %d", len(secret), ClusterKeySize)
	}
	return hkdf.Key(sha256.New, secret, nil, purpose, 32)
}
