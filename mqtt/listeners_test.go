package mqtt_test

import (
	"crypto/tls"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestTLSAndWebSocketListeners: the same broker serves TCP, TLS and
// WebSocket (path /mqtt, subprotocol mqtt) clients, which exchange messages.
func TestTLSAndWebSocketListeners(t *testing.T) {
	tb := startBroker(t, nil)
	urls, pool := tlsAndWebSocket(t, tb)
	inboxes := map[string]*inbox{}
	for name, url := range urls {
		in := newInbox()
		inboxes[name] = in
		c := pahoClient(t, url, "sub-"+name, true, func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pool})
		})
		wait(t, c.Subscribe("l/#", 2, in.handler))
	}
	var want []string
	for _, name := range []string{"tcp", "tls", "ws"} {
		c := pahoClient(t, urls[name], "pub-"+name, true, func(o *paho.ClientOptions) {
			o.SetTLSConfig(&tls.Config{RootCAs: pool})
		})
		for _, p := range seq(name+"-", 20) {
			wait(t, c.Publish("l/"+name, 2, false, p))
			want = append(want, p)
		}
	}
	for name, in := range inboxes {
		in.waitN(t, len(want), 10*time.Second)
		if got := in.payloads(); !slices.Equal(got, want) {
			t.Fatalf("%s subscriber got %v", name, got)
		}
	}
	// A WebSocket request without the mqtt subprotocol is refused.
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(urls["ws"], "ws"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no subprotocol: status %d, want 400", resp.StatusCode)
	}
}
