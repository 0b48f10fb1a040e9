package auth

import (
	"testing"
	"time"
)

// FuzzKeyToken: any string given as a token is refused with an error or
// yields valid claims; never a panic. Seeds include a valid token, so the
// fuzzer mutates real headers, payloads and signatures.
func FuzzKeyToken(f *testing.F) {
	k, err := NewKeys(testSecret(3))
	if err != nil {
		f.Fatal(err)
	}
	tok, _, err := k.Create(KeyClaims{Filter: "a/+/#", Rights: Publish | Subscribe, Expires: time.Now().Add(time.Hour), ClientIDPrefix: "p"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("eyJ..")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := k.Verify(s)
		if err != nil {
			return
		}
		if id.Key == nil || id.Key.validate() != nil {
			t.Fatalf("accepted %q with bad claims %+v", s, id.Key)
		}
	})
}
